"""The shared decoder over every class of image we accept, and every class of broken file."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib

import pytest
from PIL import Image

from picadaily.drills import sample_jpeg
from picadaily.imaging import (
    NEUTRAL_BACKGROUND,
    DecodeBudget,
    ImageRejected,
    decode,
    inspect,
    served_type,
)

MAX = 50_000_000


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def gradient(size: tuple[int, int] = (64, 48)) -> Image.Image:
    image = Image.new("RGB", size)
    image.putdata([(x * 4 % 256, y * 5 % 256, 128) for y in range(size[1]) for x in range(size[0])])
    return image


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK", "P", "1", "I;16", "LA", "RGBA", "I", "F"])
def test_every_pixel_mode_decodes_to_rgb(mode: str) -> None:
    source = gradient().convert(mode) if mode not in {"I;16", "I", "F"} else \
        gradient().convert("L").convert(mode)
    fmt = "TIFF" if mode in {"CMYK", "I;16", "LA", "I", "F"} else "PNG"
    image = decode(encode(source, fmt), max_pixels=MAX)
    assert image.mode == "RGB" and image.size == (64, 48)


def test_sixteen_bit_greyscale_keeps_its_tones() -> None:
    source = Image.new("I;16", (8, 8), 32768)
    image = decode(encode(source, "PNG"), max_pixels=MAX)
    assert 100 < image.getpixel((0, 0))[0] < 160  # mid grey, not clipped to white


def test_transparency_is_laid_over_a_neutral_background() -> None:
    source = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert decode(encode(source, "PNG"), max_pixels=MAX).getpixel((5, 5)) == NEUTRAL_BACKGROUND
    palette = Image.new("P", (10, 10), 0)
    palette.info["transparency"] = 0
    assert decode(encode(palette, "PNG", transparency=0), max_pixels=MAX).getpixel((1, 1)) == \
        NEUTRAL_BACKGROUND


def test_exif_orientation_makes_the_picture_upright() -> None:
    source = gradient((60, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    image = decode(encode(source, "JPEG", exif=exif), max_pixels=MAX)
    assert image.size == (30, 60)


def test_the_first_frame_of_an_animation_is_the_picture() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    r, _, b = decode(data, max_pixels=MAX).getpixel((10, 10))
    assert r > 200 and b < 50


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "TIFF", "GIF", "JPEG"])
def test_accepted_formats(fmt: str) -> None:
    assert decode(encode(gradient(), fmt), max_pixels=MAX).size == (64, 48)


def test_jpeg_draft_decoding_skips_most_of_a_large_photo() -> None:
    data = encode(gradient((4000, 3000)), "JPEG", quality=80)
    image = decode(data, max_pixels=MAX, fit=400)
    assert min(image.size) >= 400 and image.width <= 1000


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) \
        + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"#!/bin/sh\necho hello\n", "not an image"),
        (b"<html><body>hi</body></html>", "not an image"),
        (b"%PDF-1.4\n", "not an image"),
        (b"\x89PNG\r\n\x1a\n", "not"),
        (_png_declaring(30000, 30000), "too many pixels"),
        (_png_declaring(1, 2_000_000_000), "too many pixels"),
    ],
)
def test_broken_files_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        decode(data, max_pixels=MAX)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_files_are_rejected_not_padded(fmt: str) -> None:
    data = encode(gradient((300, 200)), fmt)
    with pytest.raises(ImageRejected, match=r"damaged|not"):
        decode(data[: len(data) // 3], max_pixels=MAX)


def test_inspect_is_cheap_and_reports_the_format() -> None:
    info = inspect(encode(gradient(), "PNG"), max_pixels=MAX)
    assert (info.format, info.width, info.height, info.mime_type) == ("PNG", 64, 48, "image/png")


def test_formats_we_do_not_accept_are_refused() -> None:
    with pytest.raises(ImageRejected, match="not accepted"):
        inspect(encode(gradient(), "PPM"), max_pixels=MAX)


def _png_chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(colour: tuple[int, int, int] = (10, 20, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("where", ["before the image data", "after it"])
def test_a_png_of_very_many_chunks_is_refused_before_any_decoder_walks_them(where: str) -> None:
    """A cheap upload expensive to open: 2,000,000 empty chunks took 4.6-6.7 s of CPU to open."""
    png = _png()
    at = 8 + 25 if where == "before the image data" else len(png) - 12  # after IHDR / before IEND
    bomb = png[:at] + _png_chunk(b"tEXt") * 200_000 + png[at:]
    with pytest.raises(ImageRejected, match="chunks besides its image data"):
        inspect(bomb, max_pixels=60_000_000)
    with pytest.raises(ImageRejected):
        decode(bomb, max_pixels=60_000_000)
    few = png[:at] + _png_chunk(b"tEXt") * 50 + png[at:]
    assert inspect(few, max_pixels=60_000_000).format == "PNG"


def test_a_jpeg_of_very_many_segments_or_scans_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 200)).save(out, "JPEG", progressive=True)
    jpeg = out.getvalue()
    assert inspect(jpeg, max_pixels=60_000_000).format == "JPEG"  # ~10 scans: fine
    with pytest.raises(ImageRejected, match="segments before its image data"):
        inspect(jpeg[:2] + b"\xff\xe1\x00\x02" * 5000 + jpeg[2:], max_pixels=60_000_000)
    with pytest.raises(ImageRejected, match="scans"):
        inspect(jpeg + b"\xff\xda\x00\x02" * 500, max_pixels=60_000_000)


def test_the_type_a_stored_picture_is_served_as_is_read_off_its_bytes() -> None:
    assert served_type(_png()) == "image/png"
    assert served_type(sample_jpeg(3)) == "image/jpeg"
    assert served_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    for not_ours in (b"<html><script>", b"WEBP....", b"", b"GIF8", b"%PDF-1.7"):
        assert served_type(not_ours) is None


def test_a_decode_for_a_small_use_is_reduced_before_any_full_size_copy() -> None:
    """A PNG has no draft: the picture is reduced right after it is read, to at least ``fit``
    a side, before the conversions (each a full-size copy: 1,145 MB of peak for one 7745x7745
    RGBA PNG of 244 KB before, 460 MB after, measured)."""
    big = encode(Image.new("RGBA", (1600, 1200), (10, 20, 200, 128)), "PNG")
    out = decode(big, max_pixels=MAX, fit=300)
    assert out.mode == "RGB" and min(out.size) >= 300 and max(out.size) < 1600
    palette = encode(Image.new("P", (1600, 1200)), "PNG")  # (not reducible: converted as ever)
    assert decode(palette, max_pixels=MAX, fit=300).mode == "RGB"
    assert decode(big, max_pixels=MAX).size == (1600, 1200)  # no fit: the whole picture


def test_the_decode_budget_makes_decodes_wait_never_fail() -> None:
    import threading

    budget = DecodeBudget(capacity=1000)
    seen: list[int] = []
    inside = threading.Barrier(2, timeout=5)

    def hold(size: int) -> None:
        with budget.holding(size):
            seen.append(budget.held)
            with contextlib.suppress(threading.BrokenBarrierError):
                inside.wait(0.2)  # a second decode that fits gets in beside this one

    threads = [threading.Thread(target=hold, args=(n,)) for n in (600, 600, 300, 5000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 4 and max(seen) <= 1000  # 5000 waited until it was alone
    assert budget.held == 0
    picture = encode(gradient((200, 150)), "PNG")
    assert decode(picture, max_pixels=MAX, budget=budget).size == (200, 150)
