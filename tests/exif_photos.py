"""Photos whose EXIF says what a camera would have written (made with Pillow, real JPEGs)."""

from __future__ import annotations

import io

from PIL import ExifTags, Image

from services.exif.core import GPS, TAG


def jpeg_with_exif(*, make: str | None = "Canon", model: str | None = "Canon EOS 5D Mark IV",
                   taken: str | None = "2019:07:14 12:34:56", lens: str | None = "EF24-70mm",
                   position: tuple[float, float] | None = (48.8566, 2.3522)) -> bytes:
    """A real JPEG whose EXIF says what a camera would have written."""
    exif = Image.Exif()
    if make:
        exif[TAG["Make"]] = make
    if model:
        exif[TAG["Model"]] = model
    details = exif.get_ifd(ExifTags.IFD.Exif)
    if taken:
        details[TAG["DateTimeOriginal"]] = taken
    if lens:
        details[TAG["LensModel"]] = lens
    if position:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        for (ref_tag, value_tag), value, signs in (
                (("GPSLatitudeRef", "GPSLatitude"), position[0], "NS"),
                (("GPSLongitudeRef", "GPSLongitude"), position[1], "EW")):
            whole = abs(value)
            minutes = (whole - int(whole)) * 60
            gps[GPS[ref_tag]] = signs[0] if value >= 0 else signs[1]
            gps[GPS[value_tag]] = (float(int(whole)), float(int(minutes)),
                                   round((minutes - int(minutes)) * 60, 4))
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()
