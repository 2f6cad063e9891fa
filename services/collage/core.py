"""The collage core.

Membership comes from the metadata (pictures whose thumbnail is stored), never from listing the
thumbnails bucket: Pic-a-Daily's race (a collage built before the newest thumbnail existed) cannot
happen. Rebuilds are serialised and skipped when the membership has not changed, so duplicated
events cannot start a rebuild storm.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image, ImageOps

from picadaily.faults import Faults
from picadaily.storage import ObjectMissing, ObjectStore

COLLAGE_KEY = "collage.jpg"
TILE = 400
GRID = 2
MEMBERS_METADATA = "pictures"


class CollageMembers(Protocol):
    def newest_with_thumbnail(self, count: int) -> list[tuple[str, str]]:
        """(picture id, created ISO time) of the newest pictures with a thumbnail."""
        ...


@dataclass(frozen=True)
class CollageResult:
    pictures: list[str]
    rebuilt: bool


@dataclass
class Collage:
    store: ObjectStore
    bucket: str
    members: CollageMembers
    faults: Faults = field(default_factory=Faults)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update_collage(self, picture_id: str | None = None, *, created: str | None = None,
                       excluding: str | None = None) -> CollageResult:
        """Rebuild if the newest four changed.

        ``picture_id`` is the picture that asked. With ``created`` it is counted in even if the
        metadata has not recorded its thumbnail yet (choreography: both react to the same event);
        ``excluding`` leaves out a picture being deleted or failed. Only pictures whose thumbnail
        object exists are used.
        """
        from picadaily.steps import Step

        self.faults.check(Step.UPDATE_COLLAGE, picture_id or "")
        count = GRID * GRID
        with self._lock:
            candidates = dict(self.members.newest_with_thumbnail(count + 2))
            if picture_id and created:
                candidates[picture_id] = created
            candidates.pop(excluding or "", None)
            ranked = sorted(candidates.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
            wanted: list[str] = []
            for member, _ in ranked:
                if len(wanted) == count:
                    break
                if self.store.exists(self.bucket, member):
                    wanted.append(member)
            if wanted == self.current_members():
                return CollageResult(wanted, rebuilt=False)
            if not wanted:
                self.store.delete(self.bucket, COLLAGE_KEY)
                return CollageResult([], rebuilt=True)
            tiles = []
            for member in wanted:
                try:
                    tiles.append(self.store.get(self.bucket, member).data)
                except ObjectMissing:
                    tiles.append(b"")  # deleted meanwhile: the next rebuild drops it
            self.store.put(self.bucket, COLLAGE_KEY, compose(tiles), "image/jpeg",
                           {MEMBERS_METADATA: ",".join(wanted)})
            return CollageResult(wanted, rebuilt=True)

    def current_members(self) -> list[str]:
        try:
            meta = self.store.get(self.bucket, COLLAGE_KEY).metadata
        except ObjectMissing:
            return []
        value = meta.get(MEMBERS_METADATA, "")
        return value.split(",") if value else []


def compose(thumbnails: list[bytes]) -> bytes:
    """A GRID x GRID JPEG; each thumbnail centre-cropped to a square tile, newest top-left."""
    canvas = Image.new("RGB", (TILE * GRID, TILE * GRID), (24, 24, 28))
    for index, data in enumerate(thumbnails[: GRID * GRID]):
        if not data:
            continue
        with Image.open(io.BytesIO(data)) as thumb:
            tile = ImageOps.fit(thumb.convert("RGB"), (TILE, TILE), Image.Resampling.LANCZOS)
        canvas.paste(tile, ((index % GRID) * TILE, (index // GRID) * TILE))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()
