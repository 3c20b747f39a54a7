"""What a served picture looks like beyond its size: colours through every kind of
embedded profile, 16-bit samples by their depth, which frames an animation has and how
often it plays. (Found by a hostile-image audit of the running service: each of these
answered 200 with a wrong picture.)"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageSequence

from tests.media_svc import images
from tests.media_svc.conftest import MediaApp


def served(media: MediaApp, name: str, options: str, **headers: str) -> Image.Image:
    r = media.get(media.url(name, options), **headers)
    assert r.status_code == 200, r.text
    return Image.open(io.BytesIO(r.content))


def frames_of(im: Image.Image) -> list[tuple[int, ...]]:
    """Each frame's colour at its centre."""
    return [f.convert("RGB").getpixel((f.width // 2, f.height // 2))
            for f in ImageSequence.Iterator(im)]


def is_blue(pixel: tuple[int, ...]) -> bool:
    return pixel[2] > 200 and pixel[0] < 60


@pytest.mark.parametrize("options", ["w_200,f_webp", "w_200,f_png", "w_200"])
def test_a_jpeg_with_an_mpf_preview_is_one_picture(media: MediaApp, options: str) -> None:
    # Pillow opens it as a 2-frame MPO: served as an animation flipping red and blue
    media.put("camera.jpg", images.mpo())
    out = served(media, "camera.jpg", options)
    assert not getattr(out, "is_animated", False) and out.size == (200, 133)
    assert frames_of(out) == [frames_of(out)[0]] and frames_of(out)[0][0] > 200


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_a_palette_image_is_converted_through_its_profile(media: MediaApp, fmt: str) -> None:
    red = Image.new("RGB", (64, 48), (255, 0, 0)).convert("P")
    if fmt == "PNG":
        data = images.encode(red, "PNG", icc_profile=images.swapped_primaries_icc())
    else:  # Pillow reads no GIF profile: the service reads the ICCRGBG1012 extension
        data = images.gif_with_profile(images.encode(red, "GIF"), images.swapped_primaries_icc())
    media.put("palette.img", data)
    assert is_blue(frames_of(served(media, "palette.img", "w_32,f_png"))[0])


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_every_frame_of_an_animation_is_converted_through_its_profile(
        media: MediaApp, fmt: str) -> None:
    # only anim_0 (a still) was: the same URL's colours changed with anim_
    reds = [Image.new("RGB", (40, 30), (255, 0, c)) for c in (0, 10, 20)]
    media.put("anim.img", images.encode(reds[0], fmt, save_all=True, append_images=reds[1:],
                                        duration=100, icc_profile=images.swapped_primaries_icc()))
    for options in ("w_40,f_webp", "w_40,f_png", "w_40,f_png,anim_0"):
        colours = frames_of(served(media, "anim.img", options))
        assert colours and all(is_blue(c) for c in colours), (options, colours)


def test_a_profile_that_calls_itself_srgb_is_still_converted(media: MediaApp) -> None:
    # a name holding "sRGB" skipped the conversion: this linear one served 128 for 188
    media.put("linear.png", images.encode(Image.new("RGB", (32, 32), (128, 128, 128)), "PNG",
                                          icc_profile=images.linear_srgb_icc()))
    assert abs(frames_of(served(media, "linear.png", "w_16,f_png"))[0][0] - 188) <= 2


@pytest.mark.parametrize(("value", "expected"), [(255, 1), (256, 1), (32768, 128), (65535, 255)])
def test_sixteen_bit_greys_are_scaled_by_their_depth(media: MediaApp, value: int,
                                                     expected: int) -> None:
    # scaled by the image's own brightest sample: 255 was white, 256 black
    media.put("grey16.png", images.encode(Image.new("I;16", (64, 64), value), "PNG"))
    grey = served(media, "grey16.png", "w_32,f_png").convert("L").getpixel((16, 16))
    assert abs(grey - expected) <= 1, grey


def test_a_dark_sixteen_bit_ramp_stays_dark(media: MediaApp) -> None:
    ramp = Image.linear_gradient("L").resize((64, 64)).convert("I").point(lambda v: v)
    media.put("dark16.png", images.encode(ramp.convert("I;16"), "PNG"))  # 0..255 of 65535
    assert served(media, "dark16.png", "w_32,f_png").convert("L").getextrema()[1] <= 2


@pytest.mark.parametrize(("loop", "expected"), [(None, 1), (0, 0), (3, 3)])
@pytest.mark.parametrize("fmt", ["f_webp", "f_png"])
def test_an_animation_plays_as_often_as_its_gif_says(media: MediaApp, loop: int | None,
                                                     expected: int, fmt: str) -> None:
    # a GIF without a looping extension plays once; it was served looping for ever
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0))]
    params: dict[str, object] = {"save_all": True, "append_images": frames[1:],
                                 "duration": 100}
    if loop is not None:
        params["loop"] = loop
    media.put("play.gif", images.encode(frames[0], "GIF", **params))
    out = served(media, "play.gif", f"w_40,{fmt}")
    assert getattr(out, "n_frames", 1) == 2 and out.info.get("loop") == expected


def test_an_apng_default_image_is_not_a_frame_of_the_animation(media: MediaApp) -> None:
    # shown only where APNG is not understood: it was served as an extra first frame
    grey, red, green = (Image.new("RGB", (40, 30), c)
                        for c in ((128, 128, 128), (255, 0, 0), (0, 255, 0)))
    media.put("default.png", images.encode(grey, "PNG", save_all=True, default_image=True,
                                           append_images=[red, green], duration=100))
    for options in ("w_40,f_webp", "w_40,f_png"):
        colours = frames_of(served(media, "default.png", options))
        names = ["red" if c[0] > 200 > 60 > c[1] else "green" if c[1] > 200 > 60 > c[0] else c
                 for c in colours]
        assert names == ["red", "green"], (options, colours)
