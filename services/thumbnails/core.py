"""The thumbnails core."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from picadaily.contracts import Thumbnail
from picadaily.imaging import DecodeBudget, decode
from picadaily.layout import thumbnail_key
from picadaily.storage import ObjectMissing, ObjectStore


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
        """Idempotent: running it twice writes the same object again. A picture deleted while
        its thumbnail was made keeps none: its deletion's clean-up may have run before this
        write, so the original is looked for once more after it, and if it is gone the
        thumbnail goes too (``ObjectMissing``, as when the original was gone to begin with)."""
        original = self.store.get(bucket, key)
        data, thumbnail = render_thumbnail(original.data, size=self.size,
                                           max_pixels=self.max_pixels, budget=self.budget)
        self.store.put(self.bucket, thumbnail_key(picture_id), data, "image/jpeg",
                       {"picture-id": picture_id})
        if self.store.head_metadata(bucket, key) is None:
            self.store.delete(self.bucket, thumbnail_key(picture_id))
            raise ObjectMissing(f"{key} was deleted while its thumbnail was made")
        return thumbnail

    def delete_thumbnail(self, picture_id: str) -> None:
        self.store.delete(self.bucket, thumbnail_key(picture_id))
