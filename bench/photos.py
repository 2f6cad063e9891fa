"""Phone-sized test photos (about 12 MP JPEG), made deterministically from the shared photos."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

PHONE_SIZE = (4032, 3024)  # 12.2 MP, a common phone camera


def phone_sized(source: Path, size: tuple[int, int] = PHONE_SIZE) -> bytes:
    with Image.open(source) as original:
        image = original.convert("RGB")
    if image.height > image.width:
        size = (size[1], size[0])
    out = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
    return out.getvalue()
