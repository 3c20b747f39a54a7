"""Damaged files, made by flipping, cutting and splicing bytes of valid ones: only 4xx."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awsm.errors import AwsmError
from media_svc.options import TransformSpec
from media_svc.transform import Limits, probe, render
from media_svc.upload import store_upload
from tests.media_svc import images

SEEDS = {
    "jpeg": images.jpeg((160, 120)), "progressive": images.progressive_jpeg((160, 120)),
    "exif": images.jpeg_with_exif(6, (160, 120)), "png": images.png_alpha((80, 60)),
    "png16": images.png16((60, 40)), "gif": images.animated_gif(3, (40, 30)),
    "webp": images.encode(images.photo((80, 60)), "WEBP", exif=images.exif_with_gps(1).tobytes()),
    "icc": images.red_with_swapped_profile("PNG"),
    "avif": images.encode(images.photo((64, 48), "RGBA"), "AVIF", speed=10),
}
LIMITS = Limits(max_source_pixels=4_000_000, timeout_s=5.0)


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for position, value in edits:
        buf[position % len(buf)] = value
    return bytes(buf[:cut] if cut else buf)


@given(seed=st.sampled_from(sorted(SEEDS)),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.none() | st.integers(1, 4000),
       spec=st.sampled_from([TransformSpec(width=50), TransformSpec(width=40, height=40,
                                                                    format="webp")]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
def test_damaged_files_never_escape_as_unexpected_errors(tmp_path: Path, seed: str,
                                                         edits: list[tuple[int, int]],
                                                         cut: int | None,
                                                         spec: TransformSpec) -> None:
    data = mutate(SEEDS[seed], edits, cut)
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    steps = [
        lambda: render(path, spec, None, LIMITS), lambda: probe(path, LIMITS),
        lambda: store_upload(data, name="f.jpg", tenant="t1", root=tmp_path / "root",
                             limits=LIMITS),
    ]
    for step in steps:
        try:
            step()
        except AwsmError as exc:
            assert 400 <= exc.status < 500, exc
        except Exception as exc:  # noqa: BLE001 (the point is to catch anything else)
            pytest.fail(f"{seed}: {type(exc).__name__}: {exc}")


def _avif_with_bad_channel_count() -> bytes:
    """An AVIF whose alpha item claims 5 channels: Pillow's decoder raises RuntimeError
    ("Not implemented"), which no other format raises."""
    data = bytearray(SEEDS["avif"])
    data[data.rindex(b"pixi") + 8] = 5  # size, type, version+flags, then the channel count
    return bytes(data)


@pytest.mark.parametrize("step", ["render", "probe", "upload"])
def test_an_avif_the_decoder_cannot_handle_is_a_422(tmp_path: Path, step: str) -> None:
    data = _avif_with_bad_channel_count()
    path = tmp_path / "bad.avif"
    path.write_bytes(data)
    with pytest.raises(AwsmError) as err:
        if step == "render":
            render(path, TransformSpec(width=50), None, LIMITS)
        elif step == "probe":
            probe(path, LIMITS)
        else:
            store_upload(data, name="x.avif", tenant="t1", root=tmp_path / "root", limits=LIMITS)
    assert (err.value.status, err.value.code) == (422, "image_invalid")


def test_an_avif_upload_over_the_pixel_limit_is_a_413_and_nothing_is_stored(tmp_path: Path) -> None:
    data = images.encode(images.photo((300, 200)), "AVIF", speed=10)
    with pytest.raises(AwsmError) as err:
        store_upload(data, name="big.avif", tenant="t1", root=tmp_path / "root",
                     limits=Limits(max_source_pixels=50_000))
    assert err.value.status == 413
    assert not [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
