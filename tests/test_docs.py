"""Docs must not rot: every setting, error code, endpoint and CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import awsm.errors
import media_svc.errors
import search_svc.errors
from awsm.settings import Settings
from gateway.cli import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = (DOCS.parent / "README.md").read_text()


def _all_docs() -> str:
    return "\n".join(p.read_text() for p in DOCS.glob("*.md"))


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_reference(name: str) -> None:
    assert f"`AWSM_{name.upper()}`" in (DOCS / "configuration.md").read_text()


def _error_classes() -> list[type[awsm.errors.AwsmError]]:
    seen: list[type[awsm.errors.AwsmError]] = []
    todo: list[type[awsm.errors.AwsmError]] = [awsm.errors.AwsmError]
    for module in (search_svc.errors, media_svc.errors):
        assert module  # imported so their subclasses register
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in seen if c is not awsm.errors.ConfigError]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_code_is_documented(cls: type[awsm.errors.AwsmError]) -> None:
    assert f"`{cls.code}`" in _all_docs(), f"{cls.__name__}.code {cls.code!r} is undocumented"


def test_every_public_route_is_documented(tmp_path: Path) -> None:
    from awsm.settings import load_settings
    from gateway.app import create_app

    app = create_app(load_settings({}, data_dir=tmp_path, demo=True,
                                   signing_keys="k1:0123456789abcdef0123"))
    docs = _all_docs()
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path or path.startswith(("/docs", "/openapi", "/redoc")):
            continue
        stem = re.sub(r"\{[^}]+\}", "{", path).split("{")[0].rstrip("/")
        assert stem and stem in docs, f"route {path} is undocumented"


def test_every_cli_command_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    docs = _all_docs() + README
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"awsm {name}" in docs, f"`awsm {name}` is undocumented"


def test_readme_gives_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
