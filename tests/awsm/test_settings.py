from pathlib import Path

import pytest

from awsm.errors import ConfigError
from awsm.settings import load_settings, parse_signing_keys


def test_defaults_env_and_file_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "awsm.toml"
    cfg.write_text('port = 9000\nslot_name = "from_file"\n')
    s = load_settings({"AWSM_CONFIG_FILE": str(cfg), "AWSM_PORT": "9100"})
    assert s.port == 9100  # environment beats the file
    assert s.slot_name == "from_file"  # the file beats defaults
    assert s.engine_kind == "tantivy"
    assert load_settings({"AWSM_MEILI_URL": "http://m:7700"}).engine_kind == "meilisearch"
    assert load_settings({}, port=7000).port == 7000  # flags beat everything


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"AWSM_PORT": "eighty", "AWSM_SLOT_NAME": "Bad-Name!", "AWSM_ENGINE": "solr"})
    text = str(err.value)
    assert "AWSM_PORT" in text and "AWSM_SLOT_NAME" in text and "AWSM_ENGINE" in text


def test_a_misspelt_setting_is_named_not_silently_ignored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # "AWSM_SIGNING_KEY" left the signing keys unset without a word
    cfg = tmp_path / "awsm.toml"
    cfg.write_text('databse_url = "postgresql://x"\nport = 9000\n')
    with pytest.raises(ConfigError, match="'databse_url' is not a setting "
                                          "\\(did you mean 'database_url'\\?\\)"):
        load_settings({"AWSM_CONFIG_FILE": str(cfg)})
    with caplog.at_level("WARNING", logger="awsm.settings"):
        s = load_settings({"AWSM_SIGNING_KEY": "k1:0123456789abcdef0", "AWSM_TEST_MEILI_URL": "x"})
    assert s.signing_keys == ""
    assert [r.getMessage() for r in caplog.records] == [
        "AWSM_SIGNING_KEY is not a setting and is ignored (did you mean AWSM_SIGNING_KEYS?)"]


@pytest.mark.parametrize("raw", ["0", "15", "4001", "-5", "lots"])
def test_tantivy_rebuild_memory_is_bounded(raw: str) -> None:
    with pytest.raises(ConfigError, match="AWSM_TANTIVY_REBUILD_MEMORY_MB"):
        load_settings({"AWSM_TANTIVY_REBUILD_MEMORY_MB": raw})
    assert load_settings({"AWSM_TANTIVY_REBUILD_MEMORY_MB": "64"}).tantivy_rebuild_memory_mb == 64


@pytest.mark.parametrize(("name", "raw"), [
    # 0, a negative or nan re-read the tenants table back to back (~800 reads a second
    # per process here) and inf never again, so a suspension never took effect
    *[("AWSM_TENANT_CACHE_TTL_S", raw) for raw in ("0", "-1", "nan", "inf")],
    # 0 wrote a heartbeat, or looked for due rows, on every pass of the indexer's loop
    ("AWSM_HEARTBEAT_INTERVAL_S", "0"), ("AWSM_SCHEDULE_INTERVAL_S", "-1"),
    # asyncio.timeout(nan) expires at once: every fetch from an origin failed
    ("AWSM_MEDIA_HTTP_TIMEOUT_S", "nan"), ("AWSM_MEILI_TIMEOUT_S", "0"),
    # nan never expires: the transform deadline was silently off
    ("AWSM_MEDIA_TRANSFORM_TIMEOUT_S", "nan"), ("AWSM_MEDIA_ORIGIN_TTL_S", "-1"),
    ("AWSM_MEDIA_TRANSFORM_TIMEOUT_S", "0"),  # every transform would time out
    # "max-age=-1" is not a Cache-Control a CDN understands
    ("AWSM_SEARCH_MAX_AGE_S", "-1"), ("AWSM_SEARCH_S_MAXAGE_S", "-1"),
    ("AWSM_SEARCH_STALE_WHILE_REVALIDATE_S", "-1"),
])
def test_durations_are_finite_and_not_negative(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw})
    assert load_settings({name: "2"})


@pytest.mark.parametrize("raw", ["loud", "", "10", "info; rm -rf /"])
def test_log_level_is_a_known_level(raw: str) -> None:
    with pytest.raises(ConfigError, match="AWSM_LOG_LEVEL"):
        load_settings({"AWSM_LOG_LEVEL": raw})
    assert load_settings({"AWSM_LOG_LEVEL": " WARNING "}).log_level == "warning"


def test_named_choices_take_any_case() -> None:
    s = load_settings({"AWSM_ENGINE": "Meilisearch", "AWSM_EMBEDDER": " USE-Multilingual"})
    assert (s.engine, s.embedder) == ("meilisearch", "use-multilingual")
    with pytest.raises(ConfigError, match="AWSM_ENGINE"):
        load_settings({"AWSM_ENGINE": "elastic"})


def test_production_refuses_to_start_unsafe() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({}).validate_for("api")
    text = str(err.value)
    assert "AWSM_SIGNING_KEYS" in text and "AWSM_DATABASE_URL" in text
    # not the JWT secret: a search replica need not hold what can mint any Supabase
    # token; uploads answer 503 auth_not_configured without it
    assert "AWSM_JWT_SECRET" not in text
    ok = load_settings({"AWSM_SIGNING_KEYS": "k1:0123456789abcdefXYZ",
                        "AWSM_DATABASE_URL": "postgresql://x"})
    ok.validate_for("api")
    load_settings({"AWSM_DEMO": "true"}).validate_for("stack")


def test_a_short_jwt_secret_is_refused() -> None:
    # "secret" was accepted: an HS256 key that short is found offline from one token
    with pytest.raises(ConfigError, match="AWSM_JWT_SECRET: .*at least 32 characters"):
        load_settings({"AWSM_JWT_SECRET": "s" * 31})
    assert load_settings({"AWSM_JWT_SECRET": "s" * 32}).jwt_secret == "s" * 32


@pytest.mark.parametrize("raw", ["nocolon", "k1:short", ":0123456789abcdefg", "k1:0123456789abcdef,bad"])
def test_bad_signing_keys_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match="must look like 'id1:secret1"):
        parse_signing_keys(raw)
    # a settings problem like any other: reported with the rest, named by its variable
    with pytest.raises(ConfigError) as err:
        load_settings({"AWSM_SIGNING_KEYS": raw, "AWSM_PORT": "eighty"})
    assert "AWSM_SIGNING_KEYS: " in str(err.value) and "AWSM_PORT" in str(err.value)


def test_signing_keys_rotate_first_signs() -> None:
    keys = parse_signing_keys("new:0123456789abcdefNEW, old:0123456789abcdefOLD")
    assert [k for k, _ in keys] == ["new", "old"]


def test_missing_or_broken_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"AWSM_CONFIG_FILE": str(tmp_path / "nope.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"AWSM_CONFIG_FILE": str(bad)})


def test_a_bad_value_is_named_where_it_was_given(tmp_path: Path) -> None:
    # a flag's or the file's value was reported as AWSM_PORT, a variable nobody set
    config = tmp_path / "awsm.toml"
    config.write_text("port = 'eighty'\nbatch_max_changes = 0\n")
    with pytest.raises(ConfigError) as err:
        load_settings({"AWSM_CONFIG_FILE": str(config), "AWSM_BATCH_MAX_CHANGES": "-1"})
    assert f"AWSM_CONFIG_FILE {config}: port:" in str(err.value)
    assert "AWSM_BATCH_MAX_CHANGES:" in str(err.value)  # the environment's value won
    with pytest.raises(ConfigError, match="--port:"):
        load_settings({}, port=-5)


def test_a_config_file_of_many_unknown_keys_is_told_briefly(tmp_path: Path) -> None:
    # 700,000 of them took 42 s of fuzzy matching and wrote 45 MB to stderr
    config = tmp_path / "awsm.toml"
    config.write_text("".join(f"nosuch_{i} = 1\n" for i in range(5000)))
    with pytest.raises(ConfigError) as err:
        load_settings({"AWSM_CONFIG_FILE": str(config)})
    assert len(err.value.problems) == 21
    assert err.value.problems[-1].endswith("4980 more keys that are not settings")


def test_an_unreadable_config_file_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    # a directory, or a file saved in another encoding than UTF-8 (a Latin-1 "café" in a
    # comment), ended every command with a traceback
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings({"AWSM_CONFIG_FILE": str(tmp_path)})
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b"port = 9000\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"AWSM_CONFIG_FILE": str(latin1)})


@pytest.mark.parametrize(("name", "raw"), [
    # LIMIT 0: a backfill or rebuild read no row and went live with an empty index
    ("AWSM_BACKFILL_CHUNK_ROWS", "0"), ("AWSM_BACKFILL_CHUNK_ROWS", "-1"),
    # no message was ever read from the slot: nothing indexed while its WAL piled up
    ("AWSM_BATCH_MAX_CHANGES", "0"), ("AWSM_BATCH_MAX_CHANGES", "-5"),
])
def test_indexer_batch_sizes_are_at_least_one(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw})
    assert load_settings({name: "1"})


@pytest.mark.parametrize(("name", "raw", "fine"), [
    # each started, then answered every image 413 ("the limit is -1"), never served, or
    # had the encoder refuse every AVIF
    ("AWSM_MEDIA_MAX_SOURCE_BYTES", "-1", "1"), ("AWSM_MEDIA_MAX_SOURCE_PIXELS", "0", "1"),
    ("AWSM_MEDIA_MAX_OUTPUT_PIXELS", "-3", "1"), ("AWSM_MEDIA_MAX_FRAMES", "0", "1"),
    ("AWSM_MEDIA_MAX_CONCURRENT", "0", "1"), ("AWSM_MEDIA_QUEUE_SIZE", "-1", "0"),
    ("AWSM_MEDIA_CACHE_MAX_BYTES", "-1", "0"), ("AWSM_MEDIA_ORIGIN_CACHE_MAX_BYTES", "-1", "0"),
    ("AWSM_MEDIA_AVIF_SPEED", "99", "10"), ("AWSM_MEDIA_AVIF_SPEED", "-1", "0"),
    ("AWSM_MEDIA_MAX_UPLOAD_BYTES", "0", "1"),
])
def test_media_limits_are_refused_outside_their_range(name: str, raw: str, fine: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw})
    assert load_settings({name: fine})


def test_an_empty_optional_path_means_its_default_not_the_working_directory() -> None:
    # compose's ${VAR:-} or an env file's `AWSM_MEDIA_ROOT=` gave Path(""), that is ".":
    # originals were served from wherever the process started, the mapping "file" was a
    # directory
    s = load_settings({"AWSM_MEDIA_ROOT": "", "AWSM_MEDIA_CACHE_DIR": " ",
                       "AWSM_MAPPING_FILE": "", "AWSM_DATA_DIR": "/srv/awsm"})
    assert s.mapping_file is None
    assert s.resolved_media_root == Path("/srv/awsm/media")
    assert s.resolved_media_cache_dir == Path("/srv/awsm/cache/media")
    assert load_settings({"AWSM_DATA_DIR": " "}).data_dir == Path(".awsm")


@pytest.mark.parametrize("raw", [
    "postgres:s3cr3t-pw@db.example/postgres",  # no scheme
    "postgresql://postgres:s3cr3t-pw%@db.example:5432/postgres",  # a bare % in the password
    "postgresql://postgres:s3cr3t-pw@db.example/postgres?sslmod=require",  # a misspelt option
    # values libpq reads only when it connects: the API retried "invalid port number" for
    # ever, the indexer died with a traceback, `awsm check` said it could not finish
    "postgresql://postgres:s3cr3t-pw@db.example:99999/postgres",
    "postgresql://postgres:s3cr3t-pw@db.example:abc/postgres",
    "postgresql://postgres:s3cr3t-pw@db.example/postgres?connect_timeout=abc",
    "postgresql://postgres:s3cr3t-pw@db.example/postgres?sslmode=bogus",
    "host=db.example port=5432,0 dbname=awcms password=s3cr3t-pw",
])
@pytest.mark.parametrize("name", ["AWSM_DATABASE_URL", "AWSM_DATABASE_READ_URL"])
def test_a_malformed_database_url_is_named_without_its_password(name: str, raw: str) -> None:
    # It went unchecked: the API logged libpq's complaint, which quotes the string (the
    # password with it), and the indexer died on a traceback that quoted it too.
    with pytest.raises(ConfigError) as err:
        load_settings({name: raw, "AWSM_PORT": "eighty"})
    text = str(err.value)
    assert f"{name}: " in text and "AWSM_PORT" in text
    assert "s3cr3t" not in text


@pytest.mark.parametrize("raw", [
    "postgresql://x", "postgresql://u:p%40ss@db.example:6543/postgres?sslmode=require",
    "postgres://u@[::1]/db", "host=db.example port=5432 dbname=awcms user=u password=p",
    "postgresql://u@h1:5432,h2:5433/db?connect_timeout=5&sslmode=verify-full",
    "postgresql:///awcms?host=/tmp/awsm/pg",
])
def test_database_urls_and_connection_strings_load(raw: str) -> None:
    s = load_settings({"AWSM_DATABASE_URL": raw, "AWSM_DATABASE_READ_URL": raw})
    assert s.database_url == s.database_read_url == raw
    assert load_settings({"AWSM_DATABASE_READ_URL": ""}).query_database_url is None


@pytest.mark.parametrize("raw", ["ftp://meili.example", "meili.example:7700", "http://", "  "])
def test_a_meilisearch_url_is_an_http_url(raw: str) -> None:
    # "ftp://..." started, then restarted the indexer for ever ("UnsupportedProtocol")
    if raw.strip():
        with pytest.raises(ConfigError, match="AWSM_MEILI_URL: .*http:// or https://"):
            load_settings({"AWSM_MEILI_URL": raw})
    else:
        assert load_settings({"AWSM_MEILI_URL": raw}).engine_kind == "tantivy"
    assert load_settings({"AWSM_MEILI_URL": " https://meili.example "}).meili_url == \
        "https://meili.example"


@pytest.mark.parametrize("raw", ["", "docs/v2", "a b", "idx?x=1", "é", "x" * 383])
def test_a_meilisearch_index_name_is_one_meilisearch_accepts(raw: str) -> None:
    # it went into URL paths unchecked ("docs/v2" asked another route; "idx?x=1" a query)
    # and a name Meilisearch takes but one 18 characters longer it does not broke rebuilds
    with pytest.raises(ConfigError, match="AWSM_MEILI_INDEX: .*A-Z a-z 0-9 _ -"):
        load_settings({"AWSM_MEILI_INDEX": raw})
    assert load_settings({"AWSM_MEILI_INDEX": "site_2-docs"}).meili_index == "site_2-docs"
    assert len(load_settings({"AWSM_MEILI_INDEX": "x" * 382}).meili_index) == 382
