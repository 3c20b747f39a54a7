"""The pure cores: option parsing/canonicalisation, signing, geometry, sniffing, revalidation."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_svc.errors import (
    ImageDecodeError,
    InvalidOptions,
    OutputTooLarge,
    SignatureExpired,
    SignatureInvalid,
    UnsupportedFormat,
)
from media_svc.geometry import largest_width, plan_geometry
from media_svc.http_cache import IMMUTABLE, cache_control, not_modified
from media_svc.options import (
    TransformSpec,
    accept_class,
    accept_for_class,
    canonical_options,
    negotiate_format,
    parse_options,
)
from media_svc.signing import compute_signature, sign_path, srcset, verify, verify_url
from media_svc.sniff import sniff_format

KEYS = [("k2", b"second-secret-0123456789"), ("k1", b"first-secret-0123456789")]

specs = st.builds(
    TransformSpec,
    width=st.none() | st.integers(1, 8192),
    height=st.none() | st.integers(1, 8192),
    fit=st.sampled_from(["cover", "contain", "fill", "inside", "outside"]),
    focus=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    dpr=st.floats(1, 4),
    format=st.none() | st.sampled_from(["jpeg", "png", "webp", "avif", "auto"]),
    quality=st.none() | st.integers(1, 100),
    blur=st.floats(0, 100),
    sharpen=st.floats(0, 10),
    background=st.none() | st.tuples(*[st.integers(0, 255)] * 3),
    enlarge=st.booleans(),
    animated=st.booleans(),
)


@given(specs, st.randoms())
@settings(max_examples=300, deadline=None)
def test_options_in_any_order_parse_to_one_canonical_form(spec: TransformSpec,
                                                          rnd: random.Random) -> None:
    text = canonical_options(spec)
    parsed, expires = parse_options(text)
    assert expires is None
    assert canonical_options(parsed) == text
    tokens = text.split(",")
    rnd.shuffle(tokens)
    assert canonical_options(parse_options(",".join(tokens))[0]) == text


def test_defaults_are_left_out_and_numbers_normalised() -> None:
    spec, _ = parse_options("fit_cover,g_c,dpr_1,w_0800,enl_0,anim_1")
    assert spec.canonical() == "w_800"
    assert parse_options("_")[0] == TransformSpec()
    assert parse_options("g_fp:0.25:0.750,bg_FFF")[0].canonical() == "g_fp:0.25:0.75,bg_ffffff"


@pytest.mark.parametrize("text", [
    "w_0", "w_9000", "w_-5", "w_abc", "h_1e3", "fit_stretch", "f_gif", "f_svg", "q_0", "q_101",
    "dpr_5", "dpr_0.5", "blur_101", "sharp_11", "bg_zzzzzz", "g_fp:2:0", "g_middle",
    "enl_2", "w_10,w_20", "nope_1", "w", "w_", ",", "exp_abc", "x" * 600,
])
def test_bad_options_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse_options(text)
    assert err.value.status == 400 and err.value.public_message


def test_signed_path_round_trips_and_every_key_verifies() -> None:
    path = sign_path(KEYS, "f_webp,w_800", "blog/hero image.jpg")
    _, _, _, sig, options, source = path.split("/", 5)
    assert options == "w_800,f_webp" and source == "blog/hero%20image.jpg"
    assert verify(KEYS, sig, options, "blog/hero image.jpg") == TransformSpec(width=800,
                                                                              format="webp")
    # An old URL signed with the second (retired) key still verifies after rotation.
    old_sig = compute_signature(KEYS[1][1], options, "blog/hero image.jpg")
    assert verify(KEYS, old_sig, options, "blog/hero image.jpg").width == 800


@pytest.mark.parametrize("tamper", ["signature", "options", "source", "reordered", "unknown key"])
def test_altered_urls_are_refused(tamper: str) -> None:
    path = sign_path(KEYS, "w_800,h_600,f_webp", "a.jpg")
    _, _, _, sig, options, source = path.split("/", 5)
    if tamper == "signature":
        sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    elif tamper == "options":
        options = options.replace("800", "801")
    elif tamper == "source":
        source = "b.jpg"
    elif tamper == "reordered":
        # Signed correctly over a non-canonical order: still refused, one URL per variant.
        options = "f_webp,h_600,w_800"
        sig = compute_signature(KEYS[0][1], options, source)
    else:
        sig = compute_signature(b"attacker-key-0123456789", options, source)
    with pytest.raises(SignatureInvalid):
        verify(KEYS, sig, options, source)


def test_expired_urls_are_refused_and_live_ones_pass() -> None:
    path = sign_path(KEYS, "w_100", "a.jpg", expires=1_000)
    _, _, _, sig, options, source = path.split("/", 5)
    assert options == "w_100,exp_1000"
    assert verify(KEYS, sig, options, source, now=999).width == 100
    with pytest.raises(SignatureExpired):
        verify(KEYS, sig, options, source, now=1_000)


def test_no_keys_never_verifies() -> None:
    with pytest.raises(SignatureInvalid):
        verify([], "x" * 43, "_", "a.jpg")


def test_srcset_signs_one_url_per_width_keeping_the_aspect_ratio() -> None:
    value = srcset(KEYS, "a.jpg", [640, 320], TransformSpec(width=800, height=400, format="auto"))
    entries = [e.rsplit(" ", 1) for e in value.split(", ")]
    assert [w for _, w in entries] == ["320w", "640w"]
    assert "/w_320,h_160,f_auto/a.jpg" in entries[0][0]


@given(specs, st.integers(1, 6000), st.integers(1, 6000))
@settings(max_examples=300, deadline=None)
def test_geometry_stays_inside_the_source_and_the_limits(spec: TransformSpec, w: int,
                                                         h: int) -> None:
    try:
        plan = plan_geometry(spec, (w, h), 16_000_000)
    except OutputTooLarge:
        return
    x0, y0, x1, y1 = plan.box
    assert 0 <= x0 < x1 <= w + 1e-6 and 0 <= y0 < y1 <= h + 1e-6
    assert plan.canvas[0] * plan.canvas[1] <= 16_000_000
    assert plan.size[0] <= plan.canvas[0] and plan.size[1] <= plan.canvas[1]
    if not spec.enlarge and spec.fit != "contain":
        assert plan.size[0] <= max(w, 1) + 1 and plan.size[1] <= max(h, 1) + 1


@given(st.integers(1, 40_000), st.integers(1, 40_000), st.integers(1, 40_000_000))
@settings(max_examples=300, deadline=None)
def test_the_largest_width_is_served_and_one_more_is_not(w: int, h: int, limit: int) -> None:
    largest = largest_width((w, h), limit)
    if largest is None:  # nothing fits: even 1 px wide, taller than the limits
        with pytest.raises(OutputTooLarge):
            plan_geometry(TransformSpec(width=1), (w, h), limit)
        return
    plan_geometry(TransformSpec(width=largest), (w, h), limit)
    if largest < min(w, 8192):
        with pytest.raises(OutputTooLarge):
            plan_geometry(TransformSpec(width=largest + 1), (w, h), limit)


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_no_side_may_pass_webps_limit_in_any_format(fmt: str) -> None:
    # 16,384 px is one more than WebP can encode: a 413, not a failed encode (422)
    spec = TransformSpec(width=8192, dpr=2, enlarge=True, format=fmt)
    with pytest.raises(OutputTooLarge, match="16383 a side"):
        plan_geometry(spec, (8000, 1), 10**9)
    assert plan_geometry(replace(spec, width=8191), (8000, 1), 10**9).canvas == (16382, 2)
    with pytest.raises(OutputTooLarge):
        plan_geometry(TransformSpec(format=fmt), (16384, 10), 10**9)  # the original's size


def test_cover_crops_around_the_focal_point() -> None:
    plan = plan_geometry(TransformSpec(width=100, height=100, focus=(1.0, 0.5)), (400, 200), 10**7)
    assert plan.box == (200.0, 0.0, 400.0, 200.0) and plan.size == (100, 100)
    plan = plan_geometry(TransformSpec(width=100, height=100, fit="contain"), (400, 200), 10**7)
    assert plan.size == (100, 50) and plan.canvas == (100, 100) and plan.offset == (0, 25)


@pytest.mark.parametrize("accept,alpha,expected", [
    ("image/avif,image/webp,*/*", False, "avif"),
    ("image/webp,*/*", False, "webp"),
    ("image/avif;q=0,image/webp", False, "webp"),
    ("*/*", False, "jpeg"),
    (None, True, "png"),
])
def test_auto_format_follows_accept(accept: str | None, alpha: bool, expected: str) -> None:
    spec = TransformSpec(format="auto")
    assert negotiate_format(spec, accept, "jpeg", alpha, False) == expected
    # the cache key class: what the answer would be for an opaque image, avif/webp or ''
    assert accept_class(accept) == (expected if expected in ("avif", "webp") else "")


@pytest.mark.parametrize("accept,still,animation", [
    ("image/avif,image/webp,*/*", "avif", "webp"),
    ("image/avif,image/webp;q=0,*/*", "avif", "png"),  # WebP refused: APNG, never WebP
    ("image/avif", "avif", "png"),
    ("image/webp", "webp", "webp"),
    ("*/*", "jpeg", "png"),
])
def test_auto_format_through_the_accept_class(accept: str, still: str, animation: str) -> None:
    # what the service does: only the class reaches the transform (and the cache key)
    spec, seen = TransformSpec(format="auto"), accept_for_class(accept_class(accept))
    assert negotiate_format(spec, seen, "jpeg", False, False) == still
    assert negotiate_format(spec, seen, "gif", False, True) == animation


@pytest.mark.parametrize("head,expected", [
    (b"\xff\xd8\xff\xe0rest", "jpeg"), (b"\x89PNG\r\n\x1a\nrest", "png"), (b"GIF89a...", "gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "avif"),
])
def test_sniffing_recognises_allowed_formats(head: bytes, expected: str) -> None:
    assert sniff_format(head) == expected


@pytest.mark.parametrize("head", [b"<svg xmlns=...", b"\xef\xbb\xbf<?xml", b"%!PS-Adobe-3.0 EPSF",
                                  b"%PDF-1.7", b"II*\x00", b"BM....", b"hello world"])
def test_sniffing_refuses_markup_and_shell_formats(head: bytes) -> None:
    with pytest.raises(UnsupportedFormat):
        sniff_format(head)
    with pytest.raises(ImageDecodeError):
        sniff_format(b"")


def test_revalidation_rules() -> None:
    etag, modified = '"abc"', 1_700_000_000.0
    assert not_modified(etag, modified, '"x", W/"abc"', None)
    assert not_modified(etag, modified, "*", None)
    assert not not_modified(etag, modified, '"x"', "Wed, 01 Jan 2100 00:00:00 GMT")
    assert not_modified(etag, modified, None, "Tue, 14 Nov 2023 22:13:20 GMT")
    assert not not_modified(etag, modified, None, "Tue, 14 Nov 2023 22:13:19 GMT")
    assert not not_modified(etag, modified, None, "not a date")


@pytest.mark.parametrize("since", ["Tue Nov 14 22:13:19 2023",  # asctime: GMT, no zone
                                   "Tue, 14 Nov 2023 22:13:19 -0000"])
def test_a_date_without_a_zone_is_gmt_whatever_the_host_zone(
        since: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # read as local time on a host west of UTC, a date a second before the original's
    # change looked hours later: a 304 for bytes the client does not have
    import time

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert not not_modified('"abc"', 1_700_000_000.0, None, since)
        assert not_modified('"abc"', 1_700_000_000.0, None, since.replace(":19", ":20"))
    finally:
        monkeypatch.undo()
        time.tzset()


sources = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                                         blacklist_characters="/%\\"), min_size=1, max_size=12),
                   min_size=1, max_size=4).map("/".join)


@given(specs, sources, st.none() | st.integers(2_000_000_000, 3_000_000_000))
@settings(max_examples=200, deadline=None)
def test_every_signed_path_verifies_to_its_own_spec(spec: TransformSpec, source: str,
                                                    expires: int | None) -> None:
    from urllib.parse import unquote

    path = sign_path(KEYS, spec, source, expires)
    _, _, _, sig, options, quoted = path.split("/", 5)
    assert verify(KEYS, sig, options, unquote(quoted), now=1_000_000_000) == spec
    with pytest.raises(SignatureInvalid):
        verify(KEYS[:0] + [("x", b"another-secret-0123456789")], sig, options, unquote(quoted))


def test_an_expiring_url_is_cacheable_only_until_it_expires() -> None:
    path = sign_path(KEYS, "w_100", "a.jpg", expires=1_600)
    _, _, _, sig, options, source = path.split("/", 5)
    assert verify_url(KEYS, sig, options, source, now=1_000) == (TransformSpec(width=100), 1_600)
    assert cache_control(None, now=1_000) == IMMUTABLE
    assert cache_control(1_600, now=1_000.7) == "public, max-age=599"  # rounded down
    assert cache_control(1_600, now=1_600) == "public, max-age=0"
    assert cache_control(10**12, now=0) == "public, max-age=31536000"  # at most a year
