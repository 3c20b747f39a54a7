"""media_svc.jpeg: the segment walker on real JPEGs of many shapes and on any bytes."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from media_svc.jpeg import EOI, SOS, segments
from media_svc.metadata import strip_personal_metadata
from tests.media_svc import images


@settings(max_examples=40, deadline=None)
@given(progressive=st.booleans(), restart=st.sampled_from([0, 1, 3]),
       subsampling=st.sampled_from([0, 1, 2]), quality=st.integers(40, 95),
       grey=st.booleans(), exif=st.booleans())
def test_stripping_keeps_every_pixel_of_any_encoding(progressive: bool, restart: int,
                                                     subsampling: int, quality: int,
                                                     grey: bool, exif: bool) -> None:
    photo = images.photo((97, 61))
    params: dict[str, object] = {"progressive": progressive, "quality": quality,
                                 "subsampling": subsampling}
    if restart:
        params["restart_marker_blocks"] = restart
    if exif:
        params["exif"] = images.exif_with_gps().tobytes()
    data = images.encode(photo.convert("L") if grey else photo, "JPEG", **params)
    walked = list(segments(data))
    assert walked[-1][0] == EOI and walked[-1][2] == len(data)
    scans = sum(marker == SOS for marker, _, _ in walked)
    assert scans > 1 if progressive else scans == 1
    stripped = strip_personal_metadata(data, "jpeg")
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(stripped)) as after:
        assert after.tobytes() == before.tobytes()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_walked_forward_and_within_the_data(tail: bytes) -> None:
    data = b"\xff\xd8" + tail
    last = 2
    for marker, start, end in segments(data):
        assert last <= start < end <= len(data) and data[start] == 0xFF
        assert data[start + 1] == marker
        last = end
