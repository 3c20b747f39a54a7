-- awsm's own tables live in the `search` schema of the AWCMS database; AWCMS's tables
-- are only read. Applied when `awsm up` and `awsm indexer` start.
CREATE SCHEMA IF NOT EXISTS search;

CREATE TABLE IF NOT EXISTS search.schema_migrations (
    name        text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Rows the indexer could not turn into documents after several tries: parked, shown
-- in the indexer status, retried on the next change of the row or on demand.
CREATE TABLE IF NOT EXISTS search.dead_letters (
    source_table  text NOT NULL,
    row_id        text NOT NULL,
    error         text NOT NULL,
    attempts      integer NOT NULL DEFAULT 1,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_table, row_id)
);

-- One row per indexer (per slot): where it stands, for /readyz.
CREATE TABLE IF NOT EXISTS search.indexer_status (
    slot_name        text PRIMARY KEY,
    system_id        text,
    state            text NOT NULL DEFAULT 'starting',
    confirmed_lsn    text,
    last_commit_at   timestamptz,
    last_batch_at    timestamptz,
    last_error       text,
    last_error_at    timestamptz,
    backfilled_at    timestamptz,
    documents_written bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
