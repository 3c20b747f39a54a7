"""The Supabase-compatible render route, admin uploads with JWTs, and ``awsm sign-url``."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import stat
import struct
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from PIL import Image

from awsm.auth import Principal, require_role, verify_bearer
from awsm.errors import Forbidden, Unauthorized
from awsm.settings import load_settings
from media_svc import commands
from tests.media_svc import images
from tests.media_svc.conftest import disk_full

SECRET = "jwt-secret-for-tests-0123456789abcdef"
TENANT = "11111111-1111-1111-1111-111111111111"


def token(role: str | None = "admin", tenant: str | None = TENANT, secret: str = SECRET,
          exp: float | None = None, **claims: object) -> str:
    app_metadata = {k: v for k, v in (("role", role), ("tenant_id", tenant)) if v}
    payload = {"sub": "user-1", "role": "authenticated", "app_metadata": app_metadata,
               "exp": int(exp if exp is not None else time.time() + 600), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


# --- Supabase render route -------------------------------------------------------------

@pytest.fixture
def render(media_factory):  # type: ignore[no-untyped-def]
    media = media_factory(media_supabase_render=True)
    media.put("public-images/blog/hero.jpg", images.jpeg((1600, 1000)))
    return media


@pytest.mark.parametrize("query,fmt,size", [
    ("width=640&height=640", "WEBP", (640, 640)),  # resize defaults to cover
    ("width=640&height=640&resize=contain", "WEBP", (640, 400)),
    ("width=640&height=128&resize=fill&quality=50", "WEBP", (640, 128)),
    ("width=384&format=origin", "JPEG", (384, 240)),
])
def test_render_route_keeps_supabase_meanings(render, query: str, fmt: str,  # type: ignore[no-untyped-def]
                                              size: tuple[int, int]) -> None:
    r = render.get(f"/storage/v1/render/image/public/public-images/blog/hero.jpg?{query}",
                   accept="image/webp,*/*")
    assert r.status_code == 200, r.text
    out = Image.open(io.BytesIO(r.content))
    assert (out.format, out.size) == (fmt, size)
    assert r.headers["cache-control"].startswith("public")


@pytest.mark.parametrize("query", ["width=641", "quality=33", "height=99999", "resize=crop",
                                   "format=png", "width=abc", "blur=3", "width=" + "9" * 5000,
                                   "quality=" + "8" * 5000, "height=" + "0" * 4400 + "640",
                                   "width=\u0666\u0664\u0660", "width=0640", "quality=050"])
def test_render_route_refuses_values_off_the_allow_lists(render, query: str) -> None:  # type: ignore[no-untyped-def]
    r = render.get(f"/storage/v1/render/image/public/public-images/blog/hero.jpg?{query}")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_options")


@pytest.mark.parametrize("query", ["width=640&&&&", "&width=640", "width=640&height=",
                                   "width=%36%34%30", "width=640&resize=%63over", "width",
                                   "width=640&format=origin&", "width=640&quality=8%30"])
def test_render_route_gives_each_rendition_one_url(render, query: str) -> None:  # type: ignore[no-untyped-def]
    # each was the same rendition under one more URL: a CDN entry of its own, unsigned
    r = render.get(f"/storage/v1/render/image/public/public-images/blog/hero.jpg?{query}")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_options"), r.text
    assert render.get("/storage/v1/render/image/public/public-images/blog/hero.jpg"
                      "?width=640").status_code == 200


def test_render_route_refuses_a_repeated_parameter(render) -> None:  # type: ignore[no-untyped-def]
    r = render.get("/storage/v1/render/image/public/public-images/blog/hero.jpg"
                   "?width=640&width=384")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request")
    assert "width" in r.json()["error"]["message"]


def test_render_route_refuses_a_control_character_after_the_path(render) -> None:  # type: ignore[no-untyped-def]
    r = render.get("/storage/v1/render/image/public/public-images/blog/hero.jpg%0A?width=640")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text


@pytest.mark.parametrize("suffix", ["%3Fbust=1", "%3F", "%23top", "%25", "%2541"])
def test_render_route_gives_each_file_one_name(render, suffix: str) -> None:  # type: ignore[no-untyped-def]
    # unsigned: "?", "#" or "%" left after decoding would be a new name per request
    r = render.get(f"/storage/v1/render/image/public/public-images/blog/hero.jpg{suffix}"
                   "?width=640")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_source"), r.text
    r = render.get(f"/storage/v1/render/image/public/public-images{suffix}/blog/hero.jpg"
                   "?width=640")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_source"), r.text


@pytest.mark.parametrize("bucket", [".hidden", "%2E%2E", "%2E"])  # encoded: kept by clients
def test_render_route_refuses_a_hidden_or_climbing_bucket_as_it_does_such_a_path(
        render, bucket: str) -> None:  # type: ignore[no-untyped-def]
    # "..", "." and hidden segments are a 400 invalid_source in the path; the bucket's
    # were a 403 source_forbidden
    r = render.get(f"/storage/v1/render/image/public/{bucket}/hero.jpg?width=640")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_source"), r.text


def test_render_route_is_off_by_default(media) -> None:  # type: ignore[no-untyped-def]
    media.put("b/x.jpg", images.jpeg((100, 100)))
    assert media.get("/storage/v1/render/image/public/b/x.jpg?width=640").status_code == 404


# --- upload -----------------------------------------------------------------------------

@pytest.fixture
def uploads(media_factory):  # type: ignore[no-untyped-def]
    return media_factory(jwt_secret=SECRET)


def post(media, data: bytes, auth: str | None, name: str = "Hero Shot.JPG"):  # type: ignore[no-untyped-def]
    headers = {"content-type": "application/octet-stream"}
    if auth:
        headers["authorization"] = auth
    return media.request("POST", f"/v1/media?name={name}", content=data, headers=headers)


def test_a_server_without_the_jwt_secret_serves_images_and_turns_uploads_away(
        media) -> None:  # type: ignore[no-untyped-def]
    # every search replica had to hold the Supabase JWT secret, which can mint any
    # token of the project, though only uploads read it
    for auth in (None, "Bearer " + token()):
        r = post(media, images.jpeg((64, 64)), auth)
        assert r.status_code == 503 and r.json()["error"]["code"] == "auth_not_configured"
    assert list(media.settings.resolved_media_root.rglob("*.jpg")) == []


def test_admin_upload_stores_without_gps_and_returns_a_signed_srcset(uploads) -> None:  # type: ignore[no-untyped-def]
    data = images.jpeg_with_exif(orientation=6, size=(1400, 1000)) + b"<html>payload</html>"
    r = post(uploads, data, f"Bearer {token()}")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["source"].startswith(f"{TENANT}/uploads/") and body["source"].endswith(
        "-hero-shot.jpg")
    assert (body["format"], body["width"], body["height"]) == ("jpeg", 1000, 1400)
    stored = (uploads.root / body["source"]).read_bytes()
    assert b"payload" not in stored
    exif = Image.open(io.BytesIO(stored)).getexif()
    assert exif.get(0x0112) == 6 and not exif.get_ifd(0x8825)  # orientation kept, GPS gone
    widths = [entry.rsplit(" ", 1)[1] for entry in body["srcset"].split(", ")]
    assert widths == ["320w", "640w", "960w", "1000w"]
    first_url = body["srcset"].split(" ")[0]
    served = uploads.get(first_url)
    assert served.status_code == 200 and Image.open(io.BytesIO(served.content)).width == 320
    assert uploads.get(body["url"]).status_code == 200


@pytest.mark.parametrize("size,limit,largest", [
    ((1600, 1000), 1_000_000, 1264),  # 1.6 MP over a 1 MP output limit
    ((100, 20000), 16_000_000, 81),  # 20,000 px over the 16,383 px a side
])
def test_every_url_an_upload_returns_is_servable(media_factory, size: tuple[int, int],  # type: ignore[no-untyped-def]
                                                 limit: int, largest: int) -> None:
    uploads = media_factory(jwt_secret=SECRET, media_max_output_pixels=limit)
    r = post(uploads, images.encode(Image.new("L", size, 90), "JPEG"), f"Bearer {token()}")
    assert r.status_code == 201, r.text
    body = r.json()
    assert f"/w_{largest}/" in body["url"] and body["srcset"].endswith(f" {largest}w")
    for url in [body["url"], *(entry.split(" ")[0] for entry in body["srcset"].split(", "))]:
        served = uploads.get(url)
        assert served.status_code == 200, (url, served.text)
    assert Image.open(io.BytesIO(served.content)).width == largest


@pytest.mark.parametrize("size", [(1, 40_000), (2, 40_000), (1, 16_384)])
def test_an_upload_no_width_of_which_can_be_served_is_refused(media_factory,  # type: ignore[no-untyped-def]
                                                              size: tuple[int, int]) -> None:
    # more than 16,383 px tall even at 1 px wide: it was stored and answered a url and a
    # srcset ("w_1") that were each a 413 output_too_large
    uploads = media_factory(jwt_secret=SECRET)
    r = post(uploads, images.encode(Image.new("L", size, 90), "PNG"), f"Bearer {token()}")
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "output_too_large"
    assert f"{size[0]}x{size[1]}" in r.json()["error"]["message"]
    assert not [p for p in uploads.root.rglob("*") if p.is_file()]


def test_the_tallest_upload_that_can_be_served_is_stored_and_served(media_factory) -> None:  # type: ignore[no-untyped-def]
    uploads = media_factory(jwt_secret=SECRET)
    r = post(uploads, images.encode(Image.new("L", (1, 16_383), 90), "PNG"), f"Bearer {token()}")
    assert r.status_code == 201, r.text
    assert "/_/" in r.json()["url"]  # its own size fits: the original, untouched
    assert uploads.get(r.json()["url"]).status_code == 200


@pytest.mark.parametrize("maker,fmt", [(images.png_alpha, "png"), (images.animated_gif, "gif")])
def test_upload_accepts_other_formats_by_their_magic_bytes(uploads, maker, fmt: str) -> None:  # type: ignore[no-untyped-def]
    r = post(uploads, maker(), f"Bearer {token()}", name="file.jpg")
    assert r.status_code == 201, r.text
    assert r.json()["format"] == fmt and r.json()["source"].endswith(f".{'png' if fmt == 'png' else 'gif'}")


def test_gif_upload_loses_its_comments_xmp_and_trailer(uploads) -> None:  # type: ignore[no-untyped-def]
    frames = [Image.new("RGB", (40, 30), (i * 80, 0, 255 - i * 80)) for i in range(3)]
    data = images.encode(frames[0], "GIF", save_all=True, append_images=frames[1:],
                         duration=[80, 120, 80], loop=0, comment=b"home: -6.1754,106.8272")
    xmp = b"\x21\xff\x0bXMP DataXMP" + b"\x0e<x>-6.1754</x>" + b"\x00"
    data = data[:-1] + xmp + b"\x3b" + b"<html><script>alert(1)</script>PK\x03\x04"
    r = post(uploads, data, f"Bearer {token()}", name="a.gif")
    assert r.status_code == 201, r.text
    stored = (uploads.root / r.json()["source"]).read_bytes()
    assert b"6.1754" not in stored and b"<script>" not in stored and stored.endswith(b"\x3b")
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(stored)) as after:
        assert (after.n_frames, after.info["loop"]) == (3, 0)
        for index in range(3):
            before.seek(index)
            after.seek(index)
            assert after.convert("RGB").tobytes() == before.convert("RGB").tobytes()
            assert after.info["duration"] == before.info["duration"]


def test_gif_upload_keeps_its_colour_profile_and_drops_plain_text_whole(
        uploads) -> None:  # type: ignore[no-untyped-def]
    # the profile was dropped with the other application extensions (Pillow does not
    # read it, browsers and editors do), and a plain-text block went without its graphic
    # control, which then timed the next frame
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    frames = [Image.new("RGB", (40, 30), (i * 80, 0, 255 - i * 80)) for i in range(3)]
    data = images.encode(frames[0], "GIF", save_all=True, append_images=frames[1:],
                         duration=[80, 120, 80], loop=0)
    blocks = b"".join(bytes([len(profile[k:k + 255])]) + profile[k:k + 255]
                      for k in range(0, len(profile), 255))
    icc = b"\x21\xff\x0bICCRGBG1012" + blocks + b"\x00"
    first = data.index(b"\x21\xf9\x04")
    second = data.index(b"\x21\xf9\x04", first + 1)
    text_control = b"\x21\xf9\x04\x00\xe7\x03\x00\x00"  # 9.99 s, for the text block
    plain_text = (b"\x21\x01\x0c" + bytes(12) + b"\x0bhome -6.175" + b"\x00")
    data = (data[:first] + icc + data[first:second] + text_control + plain_text
            + data[second:])
    r = post(uploads, data, f"Bearer {token()}", name="a.gif")
    assert r.status_code == 201, r.text
    stored = (uploads.root / r.json()["source"]).read_bytes()
    assert b"home" not in stored and b"\x21\x01" not in stored
    assert icc in stored
    with Image.open(io.BytesIO(stored)) as after:
        durations = []
        for index in range(after.n_frames):
            after.seek(index)
            durations.append(after.info["duration"])
    assert durations == [80, 120, 80]


def test_gif_upload_keeps_every_graphic_control_before_a_frame(
        uploads) -> None:  # type: ignore[no-untyped-def]
    # a transparency flag in the first of two graphic controls applies to the frame
    # (Pillow, browsers): keeping only the last made the background opaque
    frame = Image.new("P", (20, 20), 0)
    frame.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    frame.paste(1, (5, 5, 15, 15))
    data = images.encode(frame, "GIF")
    image = data.index(b"\x2c")
    transparent = b"\x21\xf9\x04\x01\x00\x00\x00\x00"  # transparent index 0
    timing = b"\x21\xf9\x04\x00\x32\x00\x00\x00"  # 0.5 s, no transparency
    data = data[:image] + transparent + timing + data[image:]
    with Image.open(io.BytesIO(data)) as before:
        assert before.info.get("transparency") == 0
    r = post(uploads, data, f"Bearer {token()}", name="a.gif")
    assert r.status_code == 201, r.text
    stored = (uploads.root / r.json()["source"]).read_bytes()
    with Image.open(io.BytesIO(stored)) as after:
        assert after.info.get("transparency") == 0
        assert after.convert("RGBA").getpixel((0, 0))[3] == 0


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_webp_and_png_uploads_keep_only_orientation_and_authorship(  # type: ignore[no-untyped-def]
        uploads, fmt: str) -> None:
    # all their EXIF went, orientation too: a portrait photo was then served sideways
    data = images.encode(images.photo((200, 100)), fmt, exif=images.exif_with_gps(6).tobytes())
    r = post(uploads, data, f"Bearer {token()}")
    assert r.status_code == 201, r.text
    assert (r.json()["width"], r.json()["height"]) == (100, 200)
    stored = Image.open(io.BytesIO((uploads.root / r.json()["source"]).read_bytes()))
    exif = stored.getexif()
    assert dict(exif) == {images.ORIENTATION: 6, 0x010F: "TestCam"}
    assert not exif.get_ifd(images.GPS_IFD) and stored.size == (200, 100)
    served = uploads.get(r.json()["url"])
    assert Image.open(io.BytesIO(served.content)).size == (100, 200)


@pytest.mark.parametrize("query", [f"name=a.jpg&tenant_id=t9&tenant_id={TENANT}",
                                   "name=a.jpg&foo=1", "nama=a.jpg"])
def test_upload_refuses_repeated_or_unknown_parameters(uploads, query: str) -> None:  # type: ignore[no-untyped-def]
    r = uploads.request("POST", f"/v1/media?{query}", content=images.jpeg((100, 100)),
                        headers={"authorization": f"Bearer {token()}"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request")
    assert not list(uploads.root.rglob("*.jpg"))


@pytest.mark.parametrize("auth,status", [
    (None, 401), ("Basic abc", 401), ("Bearer not-a-jwt", 401),
    (f"Bearer {token(secret='another-secret-0123456789abcdefgh')}", 401),
    (f"Bearer {token(exp=time.time() - 3600)}", 401),
    (f"Bearer {token(role='editor')}", 403), (f"Bearer {token(tenant=None)}", 403),
    # two tenants named (top-level and app_metadata): which one? neither
    (f"Bearer {token(tenant_id='22222222-2222-2222-2222-222222222222')}", 401),
    # claims of another type are no tenant or role (str(True) made a folder "True")
    (f"Bearer {token(tenant=None, tenant_id=True)}", 401),
    (f"Bearer {token(tenant=None, tenant_id=123)}", 401),
    (f"Bearer {token(tenant=None, tenant_id=['a'])}", 401),
    (f"Bearer {token(role=None, user_role={'admin': 1})}", 401),
    # NumericDates are numbers (PyJWT reads a string of digits as one)
    ("Bearer " + jwt.encode({"sub": "u", "exp": str(int(time.time()) + 600),
                             "app_metadata": {"role": "admin", "tenant_id": TENANT}},
                            SECRET, algorithm="HS256"), 401),
    (f"Bearer {token(iat=str(int(time.time())))}", 401), (f"Bearer {token(nbf=True)}", 401),
])
def test_upload_needs_an_admin_token_with_a_tenant(uploads, auth: str | None,  # type: ignore[no-untyped-def]
                                                   status: int) -> None:
    r = post(uploads, images.jpeg((100, 100)), auth)
    assert r.status_code == status, r.text
    assert not list(uploads.root.rglob("*.jpg"))


@pytest.mark.parametrize("maker,status", [
    (lambda: images.SVG_WITH_SCRIPT, 415), (images.truncated_jpeg, 422), (images.png_bomb, 413),
    (lambda: b"", 422), (images.polyglot_gif_script, 422), (lambda: b"\xff" * 70_000, 413),
    (images.scan_bomb_jpeg, 413), (images.growing_gif, 413),
])
def test_hostile_uploads_are_refused_and_nothing_is_stored(media_factory, maker,  # type: ignore[no-untyped-def]
                                                           status: int) -> None:
    uploads = media_factory(jwt_secret=SECRET, media_max_upload_bytes=60_000)
    r = post(uploads, maker(), f"Bearer {token()}")
    assert r.status_code == status, r.text
    assert not [p for p in uploads.root.rglob("*") if p.is_file()]


def test_an_upload_the_service_could_not_serve_back_is_refused(media_factory) -> None:  # type: ignore[no-untyped-def]
    # AWSM_MEDIA_MAX_UPLOAD_BYTES above AWSM_MEDIA_MAX_SOURCE_BYTES stored the file and
    # answered a url and srcset that were each a 413 source_too_large
    data = images.jpeg((1400, 1000))
    uploads = media_factory(jwt_secret=SECRET, media_max_source_bytes=len(data) - 1)
    r = post(uploads, data, f"Bearer {token()}")
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    assert not [p for p in uploads.root.rglob("*") if p.is_file()]


def test_an_upload_onto_a_full_disk_is_a_retryable_503(uploads) -> None:  # type: ignore[no-untyped-def]
    # it was a 500 "internal" (what the docs call a bug), with a traceback per request
    with disk_full(1000):
        r = post(uploads, images.jpeg((400, 300)), f"Bearer {token()}")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "storage_unavailable"
    assert r.headers["cache-control"] == "no-store"
    assert not [p for p in uploads.root.rglob("*") if p.is_file()]  # no temporary file
    assert post(uploads, images.jpeg((400, 300)), f"Bearer {token()}").status_code == 201


def test_an_empty_tenant_id_is_a_bad_request_not_a_missing_claim(uploads) -> None:  # type: ignore[no-untyped-def]
    r = uploads.request("POST", "/v1/media?name=x&tenant_id=", content=images.jpeg((40, 30)),
                        headers={"authorization": f"Bearer {token(role='super_admin')}"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text
    assert "tenant_id" in r.json()["error"]["message"]


def test_uploading_the_same_bytes_again_leaves_the_stored_original_alone(uploads) -> None:  # type: ignore[no-untyped-def]
    # The original's mtime is its version: rewriting it would change every ETag made for
    # it and make every variant again, for bytes that did not change.
    data = images.jpeg((400, 300))
    first = post(uploads, data, f"Bearer {token()}")
    assert first.status_code == 201, first.text
    stored = uploads.root / first.json()["source"]
    os.utime(stored, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    served = uploads.get(first.json()["url"])
    again = post(uploads, data, f"Bearer {token()}")
    assert again.status_code == 201 and again.json() == first.json()
    assert stored.stat().st_mtime_ns == 1_600_000_000_000_000_000
    assert uploads.get(first.json()["url"], **{"if-none-match": served.headers["etag"]}
                       ).status_code == 304
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # no temporary file


def test_a_stored_original_has_the_mode_the_umask_gives(uploads) -> None:  # type: ignore[no-untyped-def]
    # it was always 0600 (mkstemp's), whatever the umask: a web server, backup or
    # replica running as another user could not read the originals
    old = os.umask(0o022)
    try:
        r = post(uploads, images.jpeg((40, 30)), f"Bearer {token()}")
    finally:
        os.umask(old)
    assert r.status_code == 201, r.text
    assert stat.S_IMODE((uploads.root / r.json()["source"]).stat().st_mode) == 0o644


def test_personal_metadata_between_scans_is_removed_too(uploads) -> None:  # type: ignore[no-untyped-def]
    # a progressive JPEG may carry APPn and comment segments between its scans
    r = post(uploads, images.jpeg_with_metadata_after_the_first_scan(), f"Bearer {token()}")
    assert r.status_code == 201, r.text
    stored = (uploads.root / r.json()["source"]).read_bytes()
    assert b"SECRET-HOME-ADDRESS" not in stored
    # the EXIF block stays only as the allowed tags: no GPS pointer in any APP1
    for start in (m.start() for m in re.finditer(rb"\xff\xe1..Exif\x00\x00", stored)):
        (length,) = struct.unpack(">H", stored[start + 2:start + 4])
        exif = Image.Exif()
        exif.load(stored[start + 4:start + 2 + length])
        assert 0x8825 not in exif and exif.get(0x010F) == "TestCam"
    with Image.open(io.BytesIO(stored)) as im:
        assert im.size == (300, 200)
        im.load()  # every scan still decodes


@pytest.mark.parametrize("maker", [images.jpeg_with_fill_and_stray_bytes,
                                   images.progressive_jpeg, images.jpeg_with_exif])
def test_stripping_keeps_every_pixel(uploads, maker) -> None:  # type: ignore[no-untyped-def]
    data = maker()
    r = post(uploads, data, f"Bearer {token()}")
    assert r.status_code == 201, r.text
    stored = (uploads.root / r.json()["source"]).read_bytes()
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(stored)) as after:
        assert after.tobytes() == before.tobytes()


def test_an_upload_trickling_in_is_cut_off(media_factory) -> None:  # type: ignore[no-untyped-def]
    uploads = media_factory(jwt_secret=SECRET, http_body_timeout_s=1)

    async def trickle() -> AsyncIterator[bytes]:
        yield images.jpeg((100, 100))[:3]
        await asyncio.sleep(30)  # the rest never comes in time
        yield b""

    started = time.monotonic()
    r = asyncio.run(uploads.arequest("POST", "/v1/media?name=x.jpg", content=trickle(),
                                     headers={"authorization": f"Bearer {token()}"}))
    assert (r.status_code, r.json()["error"]["code"]) == (408, "request_timeout"), r.text
    assert time.monotonic() - started < 10 and r.headers["connection"] == "close"
    assert not [p for p in uploads.root.rglob("*") if p.is_file()]


def test_an_upload_the_client_abandons_is_no_server_error(uploads, caplog) -> None:  # type: ignore[no-untyped-def]
    messages = [{"type": "http.request", "body": b"\xff\xd8\xff", "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/media", "raw_path": b"/v1/media",
             "root_path": "", "query_string": b"name=x.jpg", "client": ("127.0.0.1", 1),
             "server": ("media.test", 80),
             "headers": [(b"host", b"media.test"), (b"content-length", b"100000"),
                         (b"authorization", f"Bearer {token()}".encode())]}
    asyncio.run(uploads.app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_two_authorization_headers_are_refused(uploads) -> None:  # type: ignore[no-untyped-def]
    for first, second in ((token(), "xyz"), ("xyz", token())):
        r = uploads.request("POST", "/v1/media?name=x.jpg", content=images.jpeg((50, 50)),
                            headers=[("authorization", f"Bearer {first}"),
                                     ("authorization", f"Bearer {second}")])
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text


def test_an_empty_audience_setting_means_none(media_factory) -> None:  # type: ignore[no-untyped-def]
    # AWSM_JWT_AUDIENCE= (set, empty: what compose's ${VAR:-} passes) required aud == "",
    # which no token has: every upload was a 401 while the setting read as unset
    uploads = media_factory(jwt_secret=SECRET, jwt_audience="")
    r = post(uploads, images.jpeg((50, 50)), f"Bearer {token(aud='authenticated')}")
    assert r.status_code == 201, r.text


def test_principal_claims_follow_supabase() -> None:
    settings = load_settings({}, jwt_secret=SECRET)
    p = verify_bearer(f"Bearer {token(role=None, tenant=None, tenant_id='t1', user_role='owner')}",
                      settings)
    assert p == Principal("user-1", "t1", "owner")
    assert require_role(p) is p
    with pytest.raises(Forbidden):
        require_role(Principal("u", "t", "editor"))
    with pytest.raises(Unauthorized):
        verify_bearer("Bearer " + token(), load_settings({}, jwt_secret=SECRET,
                                                         jwt_audience="authenticated"))
    for sub in ("", "  "):  # a token of no user: nobody to hold to account for an upload
        with pytest.raises(Unauthorized, match="sub"):
            verify_bearer(f"Bearer {token(sub=sub)}", settings)


# --- CLI ----------------------------------------------------------------------------------

def test_sign_url_prints_a_path_the_service_accepts(media, capsys) -> None:  # type: ignore[no-untyped-def]
    media.put("blog/hero.jpg", images.jpeg((900, 600)))
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["sign-url", "blog/hero.jpg", "--width", "300", "--format", "webp",
                              "--quality", "70", "--dpr", "2", "--expires", "600"])
    assert args.func(args, media.settings) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    assert path.startswith("/v1/img/") and "/w_300,dpr_2,f_webp,q_70,exp_" in path
    r = media.get(path)
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (600, 400)


@pytest.mark.parametrize("argv", [
    ["../secrets.json"], ["./a.jpg"], ["a//b.jpg"], [".hidden/x.jpg"], ["a%2e.jpg"],
    ["a.jpg", "--srcset", "0,320"], ["a.jpg", "--srcset", "99999"], ["a.jpg", "--srcset", "x"],
    ["a.jpg", "--dpr", "0"], ["a.jpg", "--expires", "0"], ["a.jpg", "--expires", "-5"],
    ["a.jpg", "--width", "0"],
])
def test_sign_url_refuses_what_the_service_would_refuse(media, capsys, argv) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["sign-url", *argv])
    assert args.func(args, media.settings) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.strip() and "Traceback" not in out.err


def test_sign_url_without_keys_explains_the_fix(capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["sign-url", "a.jpg"])
    assert args.func(args, load_settings({})) == 2
    assert "AWSM_SIGNING_KEYS" in capsys.readouterr().err


def test_sign_url_uses_the_keys_of_the_demo_in_data_dir(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from gateway.cli import main
    from media_svc.signing import verify

    for name in ("AWSM_SIGNING_KEYS", "AWSM_DATA_DIR", "AWSM_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    secret = "demo:" + "s" * 40  # as `awsm up --demo` keeps it in <data-dir>/secrets.json
    (tmp_path / "secrets.json").write_text(json.dumps({"AWSM_SIGNING_KEYS": secret}))
    assert main(["sign-url", "blog/hero.jpg", "--width", "300", "--data-dir", str(tmp_path)]) == 0
    _, _, _, signature, options, source = capsys.readouterr().out.strip().splitlines()[-1].split("/", 5)
    verify(load_settings({}, signing_keys=secret).signing_key_list, signature, options, source)
    assert main(["sign-url", "blog/hero.jpg", "--data-dir", str(tmp_path / "none")]) == 2


def test_sign_url_refuses_a_bad_srcset_without_a_traceback(capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["sign-url", "a.jpg", "--srcset", "320,big"])
    assert args.func(args, load_settings({}, signing_keys="k1:" + "x" * 40)) == 2
    assert "--srcset takes comma-separated widths" in capsys.readouterr().err


def test_bad_media_settings_are_all_reported_at_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from awsm.errors import ConfigError
    from media_svc.api import build_router

    settings = load_settings({}, data_dir=str(tmp_path), media_http_origins="https://x.example",
                             media_render_widths="10,abc", media_srcset_widths="0",
                             media_render_qualities="80,500",
                             media_render_origin="https://y.example/")
    with pytest.raises(ConfigError) as err:
        build_router(settings)
    text = str(err.value)
    for name in ("AWSM_MEDIA_HTTP_ORIGINS", "AWSM_MEDIA_RENDER_WIDTHS", "AWSM_MEDIA_SRCSET_WIDTHS",
                 "AWSM_MEDIA_RENDER_ORIGIN", "AWSM_MEDIA_RENDER_QUALITIES"):
        assert name in text
    # a quality is 1-100, and said so (it was told of widths up to 8192)
    assert "AWSM_MEDIA_RENDER_QUALITIES must be comma-separated whole numbers between 1 and " \
           "100, e.g. 50,75,80,90." in text


def test_a_camera_jpeg_with_an_mpf_preview_uploads_as_one_picture(uploads) -> None:  # type: ignore[no-untyped-def]
    # the preview after the image's end was dropped but its MPF index kept: probing the
    # second frame failed, and phones' photos (Ultra HDR gain maps too) were a 422
    r = post(uploads, images.mpo((600, 400)), f"Bearer {token()}")
    assert r.status_code == 201, r.text
    assert (r.json()["format"], r.json()["width"], r.json()["height"]) == ("jpeg", 600, 400)
    stored = (uploads.root / r.json()["source"]).read_bytes()
    assert b"MPF\x00" not in stored and Image.open(io.BytesIO(stored)).format == "JPEG"


def test_a_jpeg_upload_keeps_only_the_app_segments_it_needs(uploads) -> None:  # type: ignore[no-untyped-def]
    # APP15 and the other vendor segments are free text: "HOME 6.17S 106.82E" stayed
    data = images.encode(images.photo((200, 100)), "JPEG",
                         icc_profile=images.swapped_primaries_icc())
    note = b"HOME 6.17S 106.82E"
    data = data[:2] + b"\xff\xef" + (len(note) + 2).to_bytes(2, "big") + note + data[2:]
    r = post(uploads, data, f"Bearer {token()}")
    assert r.status_code == 201, r.text
    stored = Image.open(io.BytesIO((uploads.root / r.json()["source"]).read_bytes()))
    assert note not in (uploads.root / r.json()["source"]).read_bytes()
    assert stored.info.get("icc_profile") == images.swapped_primaries_icc()


def test_an_avif_upload_keeps_its_orientation_profile_and_frames(uploads) -> None:  # type: ignore[no-untyped-def]
    # re-encoded without any of them: served sideways, in other colours, one frame
    oriented = images.encode(Image.new("RGB", (200, 100), (255, 0, 0)), "AVIF",
                             exif=images.exif_with_gps(6).tobytes(),
                             icc_profile=images.swapped_primaries_icc())
    r = post(uploads, oriented, f"Bearer {token()}")
    assert r.status_code == 201, r.text
    assert (r.json()["width"], r.json()["height"]) == (100, 200)
    stored_bytes = (uploads.root / r.json()["source"]).read_bytes()
    assert b"TestCam" not in stored_bytes
    out = Image.open(io.BytesIO(uploads.get(r.json()["url"]).content)).convert("RGB")
    assert out.size == (100, 200)
    r_, _g, b = out.getpixel((50, 100))
    assert b > 200 and r_ < 60  # red under the swapped profile is blue
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    animated = images.encode(frames[0], "AVIF", save_all=True, append_images=frames[1:],
                             duration=[100, 200, 300])
    r = post(uploads, animated, f"Bearer {token()}")
    assert r.status_code == 201, r.text
    stored = Image.open(io.BytesIO((uploads.root / r.json()["source"]).read_bytes()))
    assert stored.n_frames == 3
