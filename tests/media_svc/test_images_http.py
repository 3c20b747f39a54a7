"""Real images through the real router: formats, sizes, orientation, privacy, caching."""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from media_svc.signing import compute_signature, url_path
from tests.media_svc import images
from tests.media_svc.conftest import MediaApp, disk_full


def open_image(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def is_red(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


@pytest.mark.parametrize("options,fmt,size", [
    ("w_300,f_jpeg", "JPEG", (300, 200)),
    ("w_300,f_webp", "WEBP", (300, 200)),
    ("w_300,f_avif", "AVIF", (300, 200)),
    ("w_200,h_200,f_png", "PNG", (200, 200)),
    ("w_200,h_200,fit_contain,f_png", "PNG", (200, 200)),
    ("w_200,h_200,fit_inside", "JPEG", (200, 133)),
    ("w_200,h_200,fit_outside", "JPEG", (300, 200)),
    ("w_200,h_50,fit_fill", "JPEG", (200, 50)),
    ("w_150,dpr_2", "JPEG", (300, 200)),
    ("w_5000", "JPEG", (1200, 800)),
    ("w_2400,enl_1", "JPEG", (2400, 1600)),
    ("w_100,blur_3,sharp_1,q_50", "JPEG", (100, 67)),
])
def test_output_has_the_requested_format_and_size(media: MediaApp, options: str, fmt: str,
                                                  size: tuple[int, int]) -> None:
    media.put("photo.jpg", images.jpeg())
    r = media.get(media.url("photo.jpg", options))
    assert r.status_code == 200, r.text
    out = open_image(r.content)
    assert (out.format, out.size) == (fmt, size)
    assert r.headers["content-type"] == Image.MIME[fmt]


@pytest.mark.parametrize("suffix", ["%0A", "%0D", "%09", "%7F", "%0A%0A", "%00"])
def test_a_control_character_after_a_signed_source_is_refused(
        media: MediaApp, suffix: str) -> None:
    media.put("a/photo.jpg", images.jpeg((200, 100)))
    url = media.url("a/photo.jpg", "w_100")
    assert media.get(url).status_code == 200
    r = media.get(url + suffix)  # the signature covers the source without it
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text
    assert r.headers["cache-control"] == "no-store"


def test_a_signed_url_with_a_query_string_is_refused(media: MediaApp) -> None:
    media.put("photo.jpg", images.jpeg())
    url = media.url("photo.jpg", "w_100")
    assert media.get(url).status_code == 200
    for extra in ("?x=1", "?", "?w=2000"):
        r = media.get(url + extra)
        assert r.status_code == (200 if extra == "?" else 400), extra  # a bare '?' is no query
        if r.status_code == 400:
            assert r.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("alias", [
    "{sig}/w_100/bl%6Fg/hero.jpg", "{sig}/w_100/blog%2Fhero.jpg", "{sig}/w_%31%30%30/blog/hero.jpg",
    "{sig}/w_100/%62log/hero.jpg", "{sig}/w_100/blog/hero%2Ejpg", "{sig}%2Fw_100/blog/hero.jpg",
    "%{sig_hex}{sig_rest}/w_100/blog/hero.jpg",
])
def test_a_signed_url_has_one_spelling(media: MediaApp, alias: str) -> None:
    # The signature covers the decoded path: each re-encoding would be one more CDN entry.
    media.put("blog/hero.jpg", images.jpeg((200, 100)))
    url = media.url("blog/hero.jpg", "w_100")
    assert media.get(url).status_code == 200
    sig = url.split("/")[3]
    path = "/v1/img/" + alias.format(sig=sig, sig_hex=f"{ord(sig[0]):02X}", sig_rest=sig[1:])
    r = media.get(path)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "signature_invalid"), path
    assert r.headers["cache-control"] == "no-store"
    assert media.get(url.replace("/v1/img/", "/v1/%69mg/")).status_code == 403


@pytest.mark.parametrize("name", ["blog/Kopi Susu é.jpg", "blog/日本 ,#?.jpg",
                                  "blog/a+b=c;d@e:f$g&h'(i)*!~.jpg"])
def test_urls_minted_by_sign_path_are_served_whatever_the_file_name(media: MediaApp,
                                                                    name: str) -> None:
    media.put(name, images.jpeg((200, 100)))
    r = media.get(media.url(name, "w_100"))
    assert r.status_code == 200, (name, r.text)


@pytest.mark.parametrize("fmt", ["png", "webp", "avif"])
def test_contain_pads_an_opaque_source_transparently_unless_bg_is_given(media: MediaApp,
                                                                       fmt: str) -> None:
    media.put("photo.jpg", images.jpeg())  # 3:2, opaque: padded above and below in 400x400
    padded = open_image(media.get(media.url("photo.jpg", f"w_400,h_400,fit_contain,f_{fmt}"
                                            )).content).convert("RGBA")
    assert padded.size == (400, 400)
    assert padded.getpixel((200, 5))[3] == 0 and padded.getpixel((200, 200))[3] == 255
    coloured = open_image(media.get(media.url(
        "photo.jpg", f"w_400,h_400,fit_contain,f_{fmt},bg_ff0000")).content).convert("RGBA")
    assert is_red(coloured.getpixel((200, 5))) and coloured.getpixel((200, 5))[3] == 255
    jpeg = open_image(media.get(media.url("photo.jpg", "w_400,h_400,fit_contain,f_jpeg")
                                ).content).convert("RGB")
    assert min(jpeg.getpixel((200, 5))) > 245  # no alpha in JPEG: white


def test_exif_orientation_is_applied_and_gps_removed(media: MediaApp) -> None:
    media.put("rotated.jpg", images.jpeg_with_exif(orientation=6))
    for options in ("w_200", "w_200,f_webp", "_"):
        r = media.get(media.url("rotated.jpg", options))
        out = open_image(r.content)
        assert out.width < out.height  # stored landscape, displayed portrait
        # The red block, top-left when stored, is top-right once rotated 90° clockwise.
        rgb = out.convert("RGB")
        assert is_red(rgb.getpixel((out.width - 3, 3)))
        assert not any(is_red(rgb.getpixel(p)) for p in [(3, 3), (3, out.height - 3)])
        exif = out.getexif()
        assert not exif.get_ifd(0x8825) and 0x0112 not in exif
        assert b"TestCam" not in r.content and b"Exif" not in r.content


def test_gps_stays_out_even_when_metadata_is_kept(media_factory) -> None:  # type: ignore[no-untyped-def]
    media = media_factory(media_strip_metadata=False)
    media.put("rotated.jpg", images.jpeg_with_exif(orientation=6))
    out = open_image(media.get(media.url("rotated.jpg", "w_200")).content)
    exif = out.getexif()
    assert exif.get(0x010F) == "TestCam" and not exif.get_ifd(0x8825)
    assert exif.get(0x0112, 1) == 1 and out.width < out.height


def test_turning_metadata_stripping_on_stops_serving_cached_exif(media_factory) -> None:  # type: ignore[no-untyped-def]
    # the derived cache outlives a restart: a variant made while EXIF was kept must not
    # be served (nor revalidated by its ETag) once the operator strips metadata
    keeping = media_factory(media_strip_metadata=False)
    keeping.put("rotated.jpg", images.jpeg_with_exif(orientation=6))
    url = keeping.url("rotated.jpg", "w_200")
    kept = keeping.get(url)
    assert b"TestCam" in kept.content
    stripping = media_factory(media_strip_metadata=True)
    r = stripping.get(url, **{"if-none-match": kept.headers["etag"]})
    assert r.status_code == 200 and r.headers["x-media-cache"] == "MISS"
    assert b"TestCam" not in r.content and b"Exif" not in r.content


@pytest.mark.parametrize("maker,options,mode", [
    (images.cmyk_jpeg, "w_200", "RGB"),
    (images.png16, "w_150,f_png", "L"),
    (images.progressive_jpeg, "w_400,f_webp", "RGB"),
])
def test_unusual_inputs_come_out_as_ordinary_images(media: MediaApp, maker, options: str,  # type: ignore[no-untyped-def]
                                                    mode: str) -> None:
    media.put("in.bin", maker())
    r = media.get(media.url("in.bin", options))
    assert r.status_code == 200, r.text
    out = open_image(r.content)
    assert out.mode == mode
    if maker is images.png16:  # scaled to 8 bits, not clipped to white
        assert out.getextrema()[0] < 20 and out.getextrema()[1] > 235


def test_transparency_is_kept_for_webp_and_flattened_for_jpeg(media: MediaApp) -> None:
    media.put("alpha.png", images.png_alpha())
    webp = open_image(media.get(media.url("alpha.png", "w_200,f_webp")).content)
    assert webp.mode == "RGBA" and webp.getpixel((0, 0))[3] == 0
    jpeg = open_image(media.get(media.url("alpha.png", "w_200,f_jpeg,bg_ff0000")).content)
    assert jpeg.mode == "RGB" and jpeg.getpixel((1, 1))[0] > 240 and jpeg.getpixel((1, 1))[1] < 30


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("options", ["_", "w_50", "w_50,f_webp", "w_50,f_avif", "w_50,f_auto"])
def test_a_transparent_colour_key_stays_transparent(media: MediaApp, mode: str,
                                                    options: str) -> None:
    media.put("key.png", images.png_colour_key(mode))
    r = media.get(media.url("key.png", options), accept="image/webp")
    assert r.status_code == 200, r.text
    out = open_image(r.content).convert("RGBA")
    assert out.getpixel((1, 1))[3] == 0  # the border: transparent
    assert out.getpixel((out.width // 2, out.height // 2))[3] == 255  # the block: opaque
    flat = open_image(media.get(media.url("key.png", "w_50,f_jpeg,bg_00ff00")).content)
    assert flat.convert("RGB").getpixel((1, 1)) == pytest.approx((0, 255, 0), abs=12)


def test_animation_is_kept_or_cut_to_its_first_frame(media: MediaApp) -> None:
    media.put("anim.gif", images.animated_gif(frames=4))
    kept = open_image(media.get(media.url("anim.gif", "w_60,f_webp")).content)
    assert kept.format == "WEBP" and getattr(kept, "n_frames", 1) == 4 and kept.size == (60, 40)
    first = open_image(media.get(media.url("anim.gif", "w_60,f_webp,anim_0")).content)
    assert getattr(first, "n_frames", 1) == 1
    default = open_image(media.get(media.url("anim.gif", "w_60")).content)
    assert default.format == "WEBP" and default.n_frames == 4


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
@pytest.mark.parametrize("options,frames", [("w_50", 2), ("w_50,f_png", 2), ("w_50,anim_0", 1)])
def test_an_animation_follows_its_exif_orientation(media: MediaApp, fmt: str, options: str,
                                                    frames: int) -> None:
    media.put("turned.img", images.animated_with_orientation(fmt))
    r = media.get(media.url("turned.img", options))
    assert r.status_code == 200, r.text
    out = open_image(r.content)
    assert (out.size, getattr(out, "n_frames", 1)) == ((50, 100), frames)
    for index in range(frames):
        out.seek(index)
        rgb = out.convert("RGB")
        # stored top-left, the red block is top-right once turned 90° clockwise
        assert is_red(rgb.getpixel((out.width - 3, 3))) and not is_red(rgb.getpixel((3, 3)))
        assert not is_red(rgb.getpixel((3, out.height - 3)))


def test_an_enlarged_animation_is_bounded_over_all_its_frames(media_factory) -> None:  # type: ignore[no-untyped-def]
    # every output frame is held until encoded: 4 frames of 700x467 pass 1,000,000 pixels
    media = media_factory(media_max_source_pixels=1_000_000)
    media.put("anim.gif", images.animated_gif(frames=4))
    r = media.get(media.url("anim.gif", "w_700,enl_1,f_webp"))
    assert (r.status_code, r.json()["error"]["code"]) == (413, "output_too_large"), r.text
    assert r.headers["cache-control"] == "no-store"
    fits = open_image(media.get(media.url("anim.gif", "w_600,enl_1,f_webp")).content)
    assert (fits.size, fits.n_frames) == ((600, 400), 4)
    first = media.get(media.url("anim.gif", "w_700,enl_1,f_webp,anim_0"))
    assert first.status_code == 200 and open_image(first.content).size == (700, 467)


def test_a_jpeg_with_data_after_its_end_is_served(media: MediaApp) -> None:
    # a motion photo's video after the image: its bytes hold "scan markers" by chance
    media.put("motion.jpg", images.jpeg_with_trailer())
    r = media.get(media.url("motion.jpg", "w_150"))
    assert r.status_code == 200, r.text
    assert open_image(r.content).size == (150, 100)


def test_auto_format_negotiates_and_varies_on_accept(media: MediaApp) -> None:
    media.put("photo.jpg", images.jpeg())
    url = media.url("photo.jpg", "w_100,f_auto")
    for accept, fmt in [("image/avif,image/webp,*/*", "AVIF"), ("image/webp,*/*", "WEBP"),
                        ("*/*", "JPEG")]:
        r = media.get(url, accept=accept)
        assert open_image(r.content).format == fmt and r.headers["vary"] == "Accept"
    assert "vary" not in media.get(media.url("photo.jpg", "w_100,f_webp")).headers


def test_auto_format_never_gives_webp_to_a_client_that_refuses_it(media: MediaApp) -> None:
    media.put("anim.gif", images.animated_gif())
    url = media.url("anim.gif", "w_60,f_auto")
    for accept, fmt in [("image/avif,image/webp;q=0", "PNG"), ("image/avif", "PNG"),
                        ("image/avif,image/webp", "WEBP")]:
        out = open_image(media.get(url, accept=accept).content)
        assert (out.format, getattr(out, "n_frames", 1)) == (fmt, 4), accept


def test_cdn_headers_revalidation_and_head(media: MediaApp) -> None:
    media.put("photo.jpg", images.jpeg())
    url = media.url("photo.jpg", "w_320,f_webp")
    first = media.get(url)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["x-media-cache"] == "MISS"
    again = media.get(url)
    assert again.headers["x-media-cache"] == "HIT" and again.content == first.content
    assert media.get(url, **{"if-none-match": etag}).status_code == 304
    not_mod = media.get(url, **{"if-modified-since": modified})
    assert not_mod.status_code == 304 and not not_mod.content
    head = media.request("HEAD", url)
    assert head.status_code == 200 and not head.content
    assert head.headers["content-length"] == str(len(first.content))
    assert head.headers["etag"] == etag


@pytest.mark.parametrize("name,data,options,status", [
    ("notes.jpg", b"plain text, not a picture", "w_320", 415),
    ("photo.jpg", images.jpeg((400, 300)), "w_8192,h_8192,enl_1", 413),  # output too large
])
def test_a_url_that_cannot_be_answered_gets_no_304(media: MediaApp, name: str, data: bytes,
                                                   options: str, status: int) -> None:
    # '*' matches only a representation that exists, and a date only says the original
    # is old: a 304 would let a CDN keep a year-long entry for an error.
    media.put(name, data)
    url = media.url(name, options)
    for conditional in ({"if-none-match": "*"}, {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"}):
        r = media.get(url, **conditional)
        assert r.status_code == status, (conditional, r.status_code)
        assert r.headers["cache-control"] == "no-store"


def test_star_and_a_date_revalidate_a_url_that_can_be_answered(media: MediaApp) -> None:
    media.put("photo.jpg", images.jpeg((400, 300)))
    url = media.url("photo.jpg", "w_120")
    for conditional in ({"if-none-match": "*"}, {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"}):
        r = media.get(url, **conditional)
        assert r.status_code == 304 and not r.content, conditional


def test_derived_cache_survives_key_rotation_and_expiry_changes(media: MediaApp,
                                                                media_factory) -> None:  # type: ignore[no-untyped-def]
    media.put("photo.jpg", images.jpeg())
    first = media.get(media.url("photo.jpg", "w_120"))
    later = media.get(media.url("photo.jpg", "w_120", expires=int(time.time()) + 600))
    assert later.headers["x-media-cache"] == "HIT" and later.headers["etag"] == first.headers["etag"]
    # cacheable until it expires, not for a year: after that the origin refuses it
    age = int(later.headers["cache-control"].removeprefix("public, max-age="))
    assert 590 <= age <= 600 and "immutable" not in later.headers["cache-control"]
    revalidated = media.request("GET", media.url("photo.jpg", "w_120",
                                                 expires=int(time.time()) + 600),
                                headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304
    assert "immutable" not in revalidated.headers["cache-control"]
    rotated = media_factory(signing_keys="k3:third-secret-0123456789abcdef")
    r = rotated.get(rotated.url("photo.jpg", "w_120"))
    assert r.headers["x-media-cache"] == "HIT"  # a new router reuses the on-disk cache


def test_a_full_disk_costs_the_cache_not_the_answer(media: MediaApp, caplog) -> None:  # type: ignore[no-untyped-def]
    media.put("photo.jpg", images.jpeg((400, 300)))
    url = media.url("photo.jpg", "w_300")
    with disk_full():
        r = media.get(url)
    assert (r.status_code, r.headers["x-media-cache"]) == (200, "MISS"), r.text
    assert open_image(r.content).size == (300, 225)
    derived = media.settings.resolved_media_cache_dir / "derived"
    assert not [p for p in derived.rglob("*") if p.is_file()]  # no entry, no temporary file
    assert "cannot store" in caplog.text
    assert media.get(url).headers["x-media-cache"] == "MISS"  # stored once the disk has room
    assert media.get(url).headers["x-media-cache"] == "HIT"


@pytest.mark.parametrize("restart", [False, True])
def test_an_empty_cache_entry_is_made_again_not_served(media_factory, restart: bool) -> None:  # type: ignore[no-untyped-def]
    media = media_factory()
    media.put("photo.jpg", images.jpeg((400, 300)))
    url = media.url("photo.jpg", "w_300")
    first = media.get(url)
    [entry] = (media.settings.resolved_media_cache_dir / "derived").glob("??/*")
    entry.write_bytes(b"")  # what a power cut can leave after the rename
    again = (media_factory() if restart else media).get(url)
    assert (again.status_code, again.headers["x-media-cache"]) == (200, "MISS")
    assert again.content == first.content and entry.read_bytes() == first.content


def test_a_cache_hit_is_read_off_the_event_loop(media: MediaApp,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # a variant can be tens of MB (a 16 MP PNG): read on the loop, every request of the
    # process waits for the disk
    import threading

    media.put("photo.jpg", images.jpeg())
    url = media.url("photo.jpg", "w_300,f_png")
    first = media.get(url)
    derived = media.settings.resolved_media_cache_dir / "derived"
    read_bytes, readers = Path.read_bytes, []

    def recording(path: Path) -> bytes:
        if path.is_relative_to(derived):
            readers.append(threading.current_thread())
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", recording)
    again = media.get(url)
    assert again.headers["x-media-cache"] == "HIT" and again.content == first.content
    assert readers and threading.main_thread() not in readers


def test_an_edited_original_gets_a_new_etag(media: MediaApp) -> None:
    media.put("photo.jpg", images.jpeg())
    url = media.url("photo.jpg", "w_120")
    before = media.get(url).headers["etag"]
    media.put("photo.jpg", images.jpeg((900, 600)))
    assert media.get(url).headers["etag"] != before


def test_twenty_identical_concurrent_requests_transform_once(media: MediaApp) -> None:
    media.put("big.jpg", images.jpeg((2400, 1600)))
    url = media.url("big.jpg", "w_640,f_avif")

    async def burst() -> list[str]:
        responses = await asyncio.gather(*(media.arequest("GET", url) for _ in range(20)))
        assert {r.status_code for r in responses} == {200}
        assert len({r.content for r in responses}) == 1
        return [r.headers["x-media-cache"] for r in responses]

    statuses = asyncio.run(burst())
    assert statuses.count("MISS") == 1, statuses
    assert len(list((media.settings.resolved_media_cache_dir / "derived").glob("*/*"))) == 1


def test_forged_expired_and_reordered_urls_get_403_without_work(media: MediaApp) -> None:
    media.put("photo.jpg", images.jpeg())
    good = media.url("photo.jpg", "w_100,h_100")
    _, _, _, sig, options, source = good.split("/", 5)
    reordered = "h_100,w_100"
    resigned = compute_signature(media.settings.signing_key_list[0][1], reordered, source)
    cases = {
        "forged": f"/v1/img/{'A' * 43}/{options}/{source}",
        "altered": f"/v1/img/{sig}/w_101,h_100/{source}",
        "other source": f"/v1/img/{sig}/{options}/other.jpg",
        "unsigned": f"/v1/img/_/{options}/{source}",
        "reordered and re-signed": f"/v1/img/{resigned}/{reordered}/{source}",
        "expired": media.url("photo.jpg", "w_100", expires=int(time.time()) - 1),
    }
    for name, url in cases.items():
        r = media.get(url)
        assert r.status_code == 403, name
        assert r.json()["error"]["code"] in ("signature_invalid", "signature_expired"), name
        assert r.headers["cache-control"] == "no-store"
    assert not (media.settings.resolved_media_cache_dir / "derived").exists() or not list(
        (media.settings.resolved_media_cache_dir / "derived").glob("*/*"))


HOSTILE = {
    "truncated": (images.truncated_jpeg, 422, "image_invalid"),
    "bomb 900 MP": (images.png_bomb, 413, "source_too_large"),
    "bomb 64 MP": (lambda: images.png_bomb(8000, 8000), 413, "source_too_large"),
    "bomb 100 MP": (lambda: images.png_bomb(10000, 10000), 413, "source_too_large"),
    "frame bomb": (images.gif_frame_bomb, 413, "source_too_large"),
    "gif frame past its header's size": (images.growing_gif, 413, "source_too_large"),
    "polyglot gif/js": (images.polyglot_gif_script, 422, "image_invalid"),
    "svg with script": (lambda: images.SVG_WITH_SCRIPT, 415, "unsupported_format"),
    "zero bytes": (lambda: b"", 422, "image_invalid"),
    "eps": (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415,
            "unsupported_format"),
    "html": (lambda: b"<html><body>hi</body></html>", 415, "unsupported_format"),
    "random bytes": (lambda: bytes(range(256)) * 4, 415, "unsupported_format"),
    "png header only": (lambda: images.png_alpha()[:40], 422, "image_invalid"),
    "jpeg of 300 scans": (images.scan_bomb_jpeg, 413, "source_too_large"),
    "jpeg of 20,000 segments": (images.jpeg_segment_flood, 413, "source_too_large"),
    "png of 30,000 chunks": (images.png_chunk_flood, 413, "source_too_large"),
    "gif of 300,000 blocks": (images.gif_block_flood, 413, "source_too_large"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("options", ["w_100", "w_100,f_webp,anim_1"])
def test_hostile_files_get_a_clear_4xx_never_a_500(media: MediaApp, name: str,
                                                   options: str) -> None:
    maker, status, code = HOSTILE[name]
    media.put("hostile.img", maker())
    r = media.get(media.url("hostile.img", options))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert r.headers["cache-control"] == "no-store"


def test_a_polyglot_jpeg_is_reencoded_without_its_payload(media: MediaApp) -> None:
    media.put("poly.jpg", images.polyglot_jpeg_html())
    r = media.get(media.url("poly.jpg", "_"))
    assert r.status_code == 200 and b"<script>" not in r.content
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("source,status", [
    ("../secret.jpg", 403), ("a/../../secret.jpg", 403), ("%2e%2e/secret.jpg", 400),
    ("%252e%252e/secret.jpg", 400), ("/etc/passwd", 400), (".env", 400),
    ("a\\..\\secret.jpg", 400), ("missing.jpg", 404), ("link-out.jpg", 403),
    ("x" * 300 + ".jpg", 404),  # a name no file system holds: missing, not forbidden
])
def test_sources_cannot_leave_the_media_root(media: MediaApp, tmp_path: Path, source: str,
                                             status: int) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(images.jpeg((50, 50)))
    (media.root / "link-out.jpg").symlink_to(secret)
    # Signed by a key holder (the worst case). Clients such as httpx remove literal dot
    # segments before sending, so those go percent-encoded: not the signed spelling, a 403.
    sig = compute_signature(media.settings.signing_key_list[0][1], "w_10", source)
    path = url_path(sig, "w_10", source)
    r = media.get(re.sub(r"(?<=/)\.\.(?=/)", "%2E%2E", path))
    assert r.status_code == status, (source, r.text)


def test_limits_on_output_size_and_source_bytes(media_factory) -> None:  # type: ignore[no-untyped-def]
    media = media_factory(media_max_output_pixels=10_000, media_max_source_bytes=50_000)
    media.put("photo.jpg", images.jpeg((600, 400)))
    r = media.get(media.url("photo.jpg", "w_200"))
    assert (r.status_code, r.json()["error"]["code"]) == (413, "output_too_large")
    media.put("big.png", images.encode(Image.effect_noise((400, 400), 60), "PNG"))
    r = media.get(media.url("big.png", "w_20"))
    assert (r.status_code, r.json()["error"]["code"]) == (413, "source_too_large")


def test_a_full_queue_answers_429(media_factory) -> None:  # type: ignore[no-untyped-def]
    media = media_factory(media_max_concurrent=1, media_queue_size=0)
    media.put("big.jpg", images.jpeg((3000, 2000)))

    async def burst() -> list[int]:
        urls = [media.url("big.jpg", f"w_{100 + i},f_avif") for i in range(6)]
        responses = await asyncio.gather(*(media.arequest("GET", u) for u in urls))
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert 200 in statuses and 429 in statuses and set(statuses) <= {200, 429}


def test_a_transform_past_its_time_limit_is_refused(media_factory) -> None:  # type: ignore[no-untyped-def]
    media = media_factory(media_transform_timeout_s=1e-9)  # past before its first step ends
    media.put("photo.jpg", images.jpeg())
    r = media.get(media.url("photo.jpg", "w_100"))
    assert (r.status_code, r.json()["error"]["code"]) == (422, "transform_timeout")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_colours_are_converted_through_the_embedded_icc_profile(media: MediaApp, fmt: str) -> None:
    media.put("wide.img", images.red_with_swapped_profile(fmt))
    out = open_image(media.get(media.url("wide.img", "w_32,f_png")).content)
    r, g, b = out.convert("RGB").getpixel((10, 10))[:3]
    assert b > 200 and r < 60, (r, g, b)  # stored "red" means blue under that profile
    assert "icc_profile" not in out.info
