"""docs/media.md must name every option, setting, error code and route the service has."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from awsm.errors import AwsmError
from awsm.settings import Settings
from media_svc import errors
from media_svc.options import TransformSpec
from media_svc.signing import sign_path, srcset

DOC = Path(__file__).resolve().parents[2] / "docs" / "media.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def test_every_error_code_is_documented(doc: str) -> None:
    codes = {cls.code for _, cls in inspect.getmembers(errors, inspect.isclass)
             if issubclass(cls, AwsmError) and cls.__module__ == errors.__name__}
    assert codes and not {c for c in codes if f"`{c}`" not in doc}


def test_every_media_setting_is_documented(doc: str) -> None:
    names = {f"AWSM_{name.upper()}" for name in Settings.model_fields if name.startswith("media_")}
    assert not {n for n in names if n not in doc}


def test_every_option_key_and_route_is_documented(doc: str) -> None:
    for key in ("w_", "h_", "fit_", "g_", "dpr_", "f_", "q_", "blur_", "sharp_", "bg_", "enl_",
                "anim_", "exp_"):
        assert re.search(rf"`{key}", doc), key
    for route in ("/v1/img/", "/storage/v1/render/image/public/", "POST /v1/media",
                  "awsm sign-url"):
        assert route in doc, route


def _typescript_as_javascript(doc: str) -> str:
    code = re.search(r"```ts\n(.*?)```", doc, re.S).group(1)  # type: ignore[union-attr]
    code = re.sub(r"type ImageOptions = \{.*?\};\n", "", code, flags=re.S)
    code = code.replace("export ", "")
    return re.sub(r":\s*(string|number|ImageOptions|Promise<string>)(\[\])?", "", code)


ODD_SOURCE = "rapat:2024/foto+1 & a,b=$;@(x)!*~'é.jpg"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the TypeScript")
def test_the_typescript_snippet_signs_like_python(doc: str) -> None:
    secret = "first-secret-0123456789abcdef"
    options = {"w": 800, "h": 600, "fit": "inside", "dpr": 1.5, "f": "webp", "q": 70,
               "g": "fp:0.3:0.2", "bg": "FFAA00", "anim": False, "exp": 1767225600}
    script = _typescript_as_javascript(doc) + f"""
    (async () => {{
      console.log(await signImagePath({json.dumps(secret)}, "/blog/hero image.jpg",
                                      {json.dumps(options)}));
      console.log(await imageSrcset({json.dumps(secret)}, "a.jpg", [640, 320],
                                    {{w: 800, h: 400, f: "auto"}}));
      console.log(await imageSrcset({json.dumps(secret)}, "a.jpg", [200, 600],
                                    {{w: 400, h: 201}}));  // heights 100.5 and 301.5
      console.log(await signImagePath({json.dumps(secret)}, {json.dumps(ODD_SOURCE)}, {{w: 10}}));
    }})();
    """
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    keys = [("k1", secret.encode())]
    spec = TransformSpec(width=800, height=600, fit="inside", dpr=1.5, format="webp", quality=70,
                         focus=(0.3, 0.2), background=(255, 170, 0), animated=False)
    assert out[0] == sign_path(keys, spec, "/blog/hero image.jpg", expires=1767225600)
    assert out[1] == srcset(keys, "a.jpg", [320, 640], TransformSpec(width=800, height=400,
                                                                     format="auto"))
    # halves round up in both (Python's round() would give 100 and 302)
    assert out[2] == srcset(keys, "a.jpg", [200, 600], TransformSpec(width=400, height=201))
    assert "w_200,h_101" in out[2] and "w_600,h_302" in out[2]
    # one spelling per source, so one CDN entry whichever side minted the URL
    assert out[3] == sign_path(keys, TransformSpec(width=10), ODD_SOURCE)
