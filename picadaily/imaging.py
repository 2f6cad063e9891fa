"""One image decoder for every service.

Turns the bytes of any picture we accept into an upright RGB image, or raises ``ImageRejected``
with a human-readable reason. ``ImageRejected`` is never worth retrying: the same bytes fail the
same way every time, so the workflow and the event handlers treat it as final.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# The decoded size budget is max_pixels at this many bytes per pixel (RGBA, CMYK: 4).
MAX_BYTES_PER_PIXEL = 4
# Formats a browser can show and a camera or phone produces; anything else is refused.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"})
NEUTRAL_BACKGROUND = (245, 245, 245)


class ImageRejected(Exception):
    """The bytes are not a picture we can process. Not retryable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mime_type: str


# What the first bytes of each accepted format are: the type a stored picture is served as is
# read off its bytes (cheap), never taken from what a client claimed when it put the object.
MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"), (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"), (b"MM\x00*", 0, "image/tiff"),
)


def served_type(data: bytes) -> str | None:
    """The image type these bytes are, by their magic number (None: none we serve)."""
    for magic, offset, mime in MAGIC:
        if data[offset:offset + len(magic)] == magic and (offset == 0 or data[:4] == b"RIFF"):
            return mime
    return None


def inspect(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Cheap checks on upload: a real image of an accepted format, within the pixel limit.

    Reads the header only; a file truncated further in is caught later by ``decode`` and the
    picture ends ``failed`` with the reason.
    """
    if not data:
        raise ImageRejected("the file is empty")
    check_structure(data)
    img = _open(data)
    fmt = img.format or "unknown"
    width, height = img.size
    if fmt not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{fmt} images are not accepted (JPEG, PNG, GIF, WebP, BMP, TIFF are)")
    if width <= 0 or height <= 0:
        raise ImageRejected("the image has no pixels")
    if width * height > max_pixels:
        raise ImageRejected(
            f"the image has too many pixels: {width}x{height} is more than {max_pixels:,}"
        )
    decoded = width * height * _bytes_per_pixel(img.mode)
    if decoded > max_pixels * MAX_BYTES_PER_PIXEL:
        raise ImageRejected(
            f"the image would take {decoded / 2**20:,.0f} MB to decode ({width}x{height} "
            f"{img.mode}); the limit is {max_pixels * MAX_BYTES_PER_PIXEL / 2**20:,.0f} MB")
    mime = Image.MIME.get(fmt, "application/octet-stream")
    return ImageInfo(format=fmt, width=width, height=height, mime_type=mime)


class DecodeBudget:
    """The decoded bytes one process holds at once: a decode waits (never fails) until its
    image fits beside the ones being decoded (one larger than the whole budget waits until it
    is alone). Without it, three 7745x7745 RGBA PNGs of 233 KB each took vision to 3.76 GB."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def holding(self, size: int) -> Iterator[None]:
        size = min(size, self.capacity)
        with self._cond:
            self._cond.wait_for(lambda: self.held + size <= self.capacity)
            self.held += size
        try:
            yield
        finally:
            with self._cond:
                self.held -= size
                self._cond.notify_all()


# Modes ``Image.reduce`` takes (the rest are converted at full size, as before).
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr"})


def decode(data: bytes, *, max_pixels: int, fit: int | None = None,
           budget: DecodeBudget | None = None) -> Image.Image:
    """Decode to an upright RGB image.

    ``fit``: the caller only needs an image whose sides are at least this many pixels (JPEG draft
    decoding then skips most of the work on large photos; the result may still be larger).
    """
    info = inspect(data, max_pixels=max_pixels)
    img = _open(data)
    if fit is not None and info.format in {"JPEG", "MPO"}:
        # draft() scales by 1/2, 1/4 or 1/8 while decoding, keeping both sides >= the request.
        # EXIF orientation may swap the sides later, so ask for fit on both.
        img.draft("RGB", (fit, fit))
    decoded = img.size[0] * img.size[1] * _bytes_per_pixel(img.mode)
    with budget.holding(decoded) if budget is not None else contextlib.nullcontext():
        try:
            # The first frame of an animation is the picture: a freshly opened image is at
            # frame 0. (Never ask for n_frames: for a GIF it reads every frame, two million of
            # them if a file says so.)
            img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageRejected(f"the image data is damaged or incomplete ({_short(exc)})") \
                from exc
        if fit is not None and img.mode in _REDUCIBLE:
            # Down to what the caller needs before any copy is made (a PNG has no draft: the
            # conversions below each made a full-size copy, 1.6 GB for one 60 MP RGBA picture).
            factor = min(img.size) // fit
            if factor >= 2:
                img = img.reduce(factor)
        with contextlib.suppress(Exception):  # a malformed EXIF block must not cost the picture
            img = ImageOps.exif_transpose(img) or img
        return _to_rgb(img)


# The structure a decoder walks, bounded: each chunk or scan costs the decoder a step whatever
# its size, so a small file of very many (2,000,000 empty PNG chunks in 24 MB took 6.7 s of CPU to
# open) is refused before any decoder sees it. Real pictures come nowhere near: a phone's PNG has
# a handful of ancillary chunks, a progressive JPEG about ten scans.
MAX_PNG_CHUNKS = 1000  # besides the image data (IDAT) chunks, which the file's size bounds
MAX_JPEG_SCANS = 100
MAX_JPEG_SEGMENTS = 1000  # markers before the first scan (APPn, DQT, DHT, …)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_structure(data: bytes) -> None:
    """Refuse (``ImageRejected``) a PNG or JPEG whose structure costs more to walk than a real
    picture's: cheap, it reads only the chunk and segment headers."""
    if data.startswith(_PNG_SIGNATURE):
        _check_png(data)
    elif data.startswith(b"\xff\xd8"):
        _check_jpeg(data)


def _check_png(data: bytes) -> None:
    pos, others = len(_PNG_SIGNATURE), 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind == b"IEND":
            return
        if kind != b"IDAT":
            others += 1
            if others > MAX_PNG_CHUNKS:
                raise ImageRejected(f"the PNG has more than {MAX_PNG_CHUNKS:,} chunks besides "
                                    "its image data: too costly to read")
        pos += 12 + length


def _check_jpeg(data: bytes) -> None:
    scans = data.count(b"\xff\xda")  # (start of scan; 0xFF 0xDA never occurs in coded data)
    if scans > MAX_JPEG_SCANS:
        raise ImageRejected(f"the JPEG has {scans:,} scans (at most {MAX_JPEG_SCANS} are read)")
    pos, segments = 2, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # the first scan: what follows is image data
            return
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ImageRejected(f"the JPEG has more than {MAX_JPEG_SEGMENTS:,} segments before "
                                "its image data: too costly to read")
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"the image has too many pixels ({_short(exc)})") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("the file is not an image we can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"the file is not a readable image ({_short(exc)})") from exc


def _bytes_per_pixel(mode: str) -> int:
    """What one pixel of this mode takes decoded (16-bit and float modes take more)."""
    if mode in {"I", "F", "RGBA", "CMYK", "RGBX", "RGBa", "I;32"}:
        return 4
    if mode.startswith("I;16") or mode in {"LA", "La", "PA"}:
        return 2
    if mode in {"RGB", "YCbCr", "LAB", "HSV"}:
        return 3
    return 1 if mode in {"L", "P", "1"} else 8  # anything exotic counts as expensive


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything to white.
        img = img.point(lambda v: v / 256).convert("L")
    if img.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*NEUTRAL_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode == "CMYK":
        # Adobe-style JPEGs store inverted CMYK; Pillow handles the inversion on decode.
        return img.convert("RGB")
    return img.convert("RGB")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# Never let Pillow paper over a truncated file with grey pixels.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's own decompression-bomb check stays on at its default (Image.MAX_IMAGE_PIXELS, ~89 MP):
# ``_open`` turns its warning into a refusal. Our own limit (``max_pixels``, lower by default) is
# checked on the header before any pixel is decoded.

