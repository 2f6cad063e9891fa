"""The EXIF core: camera, lens, date taken and place from a photo's own metadata; every kind of
file without usable EXIF answers what is missing, never an error."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from picadaily.storage import InMemoryObjectStore
from services.exif.core import ExifReader, OfflineGazetteer, read_exif
from tests.conftest import photos
from tests.exif_photos import jpeg_with_exif


@pytest.fixture(scope="module")
def gazetteer() -> OfflineGazetteer:
    return OfflineGazetteer()


def test_camera_lens_date_and_place_come_from_the_file(gazetteer: OfflineGazetteer) -> None:
    exif = read_exif(jpeg_with_exif(), gazetteer)
    assert exif.camera == "Canon EOS 5D Mark IV"  # not "Canon Canon EOS 5D Mark IV"
    assert (exif.lens, exif.taken, exif.year) == ("EF24-70mm", "2019-07-14T12:34:56", 2019)
    assert (exif.latitude, exif.longitude) == (48.857, 2.352)  # about 100 m
    assert exif.place == "Paris, Île-de-France, France" and exif.note is None


def test_southern_and_western_positions_are_negative(gazetteer: OfflineGazetteer) -> None:
    exif = read_exif(jpeg_with_exif(position=(-33.8688, 151.2093)), gazetteer)
    assert exif.latitude == -33.869 and exif.place and "Australia" in exif.place
    exif = read_exif(jpeg_with_exif(position=(40.7128, -74.006)), gazetteer)
    assert exif.longitude == -74.006 and exif.place and "United States" in exif.place


def test_a_camera_without_gps_says_so() -> None:
    exif = read_exif(jpeg_with_exif(position=None, make="FUJIFILM", model="X-T3"))
    assert (exif.camera, exif.place, exif.note) == ("FUJIFILM X-T3", None, "no GPS position")


@pytest.mark.parametrize("taken", ["not a date", "0000:00:00 00:00:00", "2019-07-14"])
def test_an_unreadable_date_is_left_out(taken: str) -> None:
    exif = read_exif(jpeg_with_exif(taken=taken, position=None))
    assert (exif.taken, exif.year, exif.camera) == (None, None, "Canon EOS 5D Mark IV")


@pytest.mark.parametrize("path", photos("bad"), ids=lambda p: Path(p).name)
def test_every_broken_file_answers_no_exif(path: Path) -> None:
    exif = read_exif(path.read_bytes())
    assert exif.camera is None and exif.note and exif.note.startswith("no EXIF")


def test_a_photo_without_exif_says_so() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    assert read_exif(out.getvalue()).note == "no EXIF in this file"


def test_the_reader_reads_the_stored_original() -> None:
    store = InMemoryObjectStore()
    store.put("pictures", "p1", jpeg_with_exif(position=None), "image/jpeg", {})
    assert ExifReader(store).extract_exif("p1", "pictures", "p1").year == 2019


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        chunks.append(data[pos:pos + 12 + length])
        pos += 12 + length
    return chunks


@pytest.mark.parametrize("where", ["before the image data", "after the image data"])
def test_a_png_s_exif_is_read_without_decoding_its_pixels(
        where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import PngImagePlugin

    with Image.open(io.BytesIO(jpeg_with_exif(position=None))) as jpeg:
        exif_bytes = jpeg.getexif().tobytes()
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, "PNG", exif=exif_bytes)
    chunks = _png_chunks(out.getvalue())
    assert [c[4:8] for c in chunks].count(b"eXIf") == 1
    if where == "after the image data":  # as some cameras and editors write it
        exif_chunk = next(c for c in chunks if c[4:8] == b"eXIf")
        chunks.remove(exif_chunk)
        chunks.insert(len(chunks) - 1, exif_chunk)  # just before IEND
    png = out.getvalue()[:8] + b"".join(chunks)

    def no_decoding(self: object) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    exif = read_exif(png)
    assert (exif.camera, exif.year, exif.note) == ("Canon EOS 5D Mark IV", 2019,
                                                   "no GPS position")
