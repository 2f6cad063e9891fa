"""The thumbnails core."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from picadaily.contracts import Thumbnail
from picadaily.imaging import DecodeBudget, decode
from picadaily.layout import thumbnail_key
from picadaily.storage import ObjectStore


def render_thumbnail(data: bytes, *, size: int, max_pixels: int,
                     budget: DecodeBudget | None = None) -> tuple[bytes, Thumbnail]:
    image = decode(data, max_pixels=max_pixels, fit=size, budget=budget)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue(), Thumbnail(width=image.width, height=image.height)


@dataclass
class Thumbnails:
    store: ObjectStore
    bucket: str
    size: int
    max_pixels: int
    budget: DecodeBudget | None = None

    def make_thumbnail(self, picture_id: str, bucket: str, key: str) -> Thumbnail:
        """Idempotent: running it twice writes the same object again."""
        original = self.store.get(bucket, key)
        data, thumbnail = render_thumbnail(original.data, size=self.size,
                                           max_pixels=self.max_pixels, budget=self.budget)
        self.store.put(self.bucket, thumbnail_key(picture_id), data, "image/jpeg",
                       {"picture-id": picture_id})
        return thumbnail

    def delete_thumbnail(self, picture_id: str) -> None:
        self.store.delete(self.bucket, thumbnail_key(picture_id))
