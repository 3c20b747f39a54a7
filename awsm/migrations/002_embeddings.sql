-- Semantic search: one vector table per embedding model (created by search_svc.vectors),
-- the registry that says which model's table is live, and the queue of documents whose
-- embeddings must be (re)computed. Keyword indexing never waits on this queue.
CREATE TABLE IF NOT EXISTS search.embedding_models (
    model_id    text PRIMARY KEY,
    table_name  text NOT NULL UNIQUE,
    dimensions  integer NOT NULL,
    state       text NOT NULL DEFAULT 'building' CHECK (state IN ('building', 'active', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz
);

CREATE TABLE IF NOT EXISTS search.embedding_queue (
    doc_key       text PRIMARY KEY,
    source_table  text NOT NULL,
    row_id        text NOT NULL,
    enqueued_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts      integer NOT NULL DEFAULT 0
);

ALTER TABLE search.indexer_status ADD COLUMN IF NOT EXISTS embedding_backlog bigint;
ALTER TABLE search.indexer_status ADD COLUMN IF NOT EXISTS embedded_chunks bigint;
ALTER TABLE search.indexer_status ADD COLUMN IF NOT EXISTS model_calls bigint;
ALTER TABLE search.indexer_status ADD COLUMN IF NOT EXISTS embedding_model text;
ALTER TABLE search.indexer_status ADD COLUMN IF NOT EXISTS embedding_rate real;
