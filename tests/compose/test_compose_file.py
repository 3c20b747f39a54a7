"""No Docker engine runs here, so the compose files are checked by reading them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from awsm.settings import Settings
from gateway.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())


def test_services_and_dependencies() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "meilisearch", "api", "indexer", "redis"} <= services.keys()
    for name in ("api", "indexer"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["meilisearch"]["condition"] == "service_healthy"
    assert services["redis"]["profiles"] == ["redis"]  # optional


def test_postgres_runs_with_logical_wal() -> None:
    cmd = " ".join(COMPOSE["services"]["postgres"]["command"])
    assert "wal_level=logical" in cmd and "max_slot_wal_keep_size" in cmd
    assert "pgvector" in COMPOSE["services"]["postgres"]["image"]


def test_every_awsm_variable_is_a_real_setting() -> None:
    fields = set(Settings.model_fields)
    env = COMPOSE["services"]["api"]["environment"]
    for key in env:
        assert key.startswith("AWSM_")
        assert key[len("AWSM_"):].lower() in fields, key


def test_commands_are_real_cli_commands() -> None:
    parser = build_parser()
    for name in ("api", "indexer"):
        cmd = COMPOSE["services"][name]["command"]
        assert cmd[0] == "awsm"
        parser.parse_args(cmd[1:])


def test_secrets_are_required_not_defaulted() -> None:
    text = (ROOT / "compose" / "docker-compose.yml").read_text()
    for var in ("MEILI_MASTER_KEY", "AWSM_SIGNING_KEYS", "AWSM_JWT_SECRET"):
        assert re.search(r"\$\{" + var + r":\?", text), var


def test_env_example_sets_no_secret_compose_would_take_for_a_real_one() -> None:
    # a placeholder secret (k1:change-me-...) passed every check and became a live key;
    # left empty, compose's ${VAR:?} refuses to start until it is set
    values = dict(line.split("=", 1) for line in
                  (ROOT / "compose" / ".env.example").read_text().splitlines()
                  if line and not line.startswith("#"))
    for var in ("MEILI_MASTER_KEY", "AWSM_SIGNING_KEYS", "AWSM_JWT_SECRET", "POSTGRES_PASSWORD"):
        assert values[var] == "", var


def test_every_variable_env_example_and_the_deployment_guide_set_reaches_the_containers() -> None:
    # AWSM_DATABASE_URL was fixed to the bundled postgres and AWSM_JWT_AUDIENCE and
    # AWSM_MEDIA_HTTP_ORIGINS were not passed on: set in .env as the guide says, they
    # were ignored without a word
    example = (ROOT / "compose" / ".env.example").read_text()
    guide = (ROOT / "docs" / "deployment.md").read_text().split("## Against Supabase")[1]
    named = set(re.findall(r"\b(AWSM_[A-Z_]*[A-Z])\b", example + guide.split("\n## ")[0]))
    named -= {"AWSM_PORT"}  # the host's port, mapped in ports:
    for name in ("api", "indexer"):
        env = COMPOSE["services"][name]["environment"]
        # the JWT secret can mint any Supabase token: the API's alone (uploads)
        wanted = named - {"AWSM_JWT_SECRET"} if name == "indexer" else named
        assert wanted <= env.keys(), (name, sorted(wanted - env.keys()))
        # each is taken from .env where it is set there; secrets must be
        for var in wanted:
            assert re.match(r"\$\{" + var + r":[-?]", str(env[var])), var
    assert "AWSM_JWT_SECRET" not in COMPOSE["services"]["indexer"]["environment"]


def test_dockerfile_pins_torch_before_the_project() -> None:
    text = (ROOT / "compose" / "Dockerfile").read_text()
    assert text.index("torch==2.13.0") < text.index("pip install '.[semantic]'")


def test_volume_mount_points_exist_in_the_image_owned_by_its_user() -> None:
    """A new named volume takes the owner of its mount point in the image: a mount point
    the image lacks is root's, and the non-root service could not write its media."""
    text = (ROOT / "compose" / "Dockerfile").read_text()
    made = re.search(r"mkdir -p ([^&\n]+)&& chown -R awsm /data", text)
    assert made is not None and "USER awsm" in text
    dirs = made.group(1).split()
    for name in ("api", "indexer"):
        for volume in COMPOSE["services"][name].get("volumes", []):
            target = volume.split(":")[1]
            assert target.startswith("/data/") and target in dirs, volume


def test_the_deployment_docs_demo_load_command_is_a_real_cli_command() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    found = re.search(r"run --rm api (awsm [a-z-]+)", text)
    assert found is not None
    build_parser().parse_args(found.group(1).split()[1:])


def test_the_image_healthcheck_is_only_kept_where_it_probes_a_server() -> None:
    # the image checks :8080/healthz; the indexer serves no HTTP and would show unhealthy
    assert "HEALTHCHECK" in (ROOT / "compose" / "Dockerfile").read_text()
    services = COMPOSE["services"]
    assert services["indexer"]["healthcheck"] == {"disable": True}
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_api_and_indexer_share_the_embedding_model_setting() -> None:
    # a model set on the indexer alone leaves the API answering hybrid in keyword mode
    services = COMPOSE["services"]
    assert services["api"]["environment"]["AWSM_EMBEDDER"] == \
        services["indexer"]["environment"]["AWSM_EMBEDDER"] == "${AWSM_EMBEDDER:-none}"


def test_the_api_gets_its_own_meilisearch_key_and_the_docs_say_how_to_make_it() -> None:
    # both services had the master key, which Meilisearch keeps for managing keys
    services = COMPOSE["services"]
    assert services["api"]["environment"]["AWSM_MEILI_KEY"] == \
        "${MEILI_API_KEY:-${MEILI_MASTER_KEY}}"
    assert services["indexer"]["environment"]["AWSM_MEILI_KEY"].startswith("${MEILI_MASTER_KEY:?")
    for text in ((ROOT / "compose" / ".env.example").read_text(),
                 (ROOT / "docs" / "deployment.md").read_text()):
        found = re.search(r"run --rm --no-deps indexer (awsm [a-z-]+)", text)
        assert found is not None and found.group(1) == "awsm meili-key"
        build_parser().parse_args(found.group(1).split()[1:])
