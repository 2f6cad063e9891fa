"""The collage core.

Membership comes from the metadata (pictures whose thumbnail is stored), never from listing the
thumbnails bucket: Pic-a-Daily's race (a collage built before the newest thumbnail existed) cannot
happen. Rebuilds are serialised and skipped when the membership has not changed, so duplicated
events cannot start a rebuild storm.
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image, ImageOps

from picadaily.contracts import CollageResult
from picadaily.layout import COLLAGE_KEY, COLLAGE_MEMBERS_METADATA, COLLAGE_PICTURES, thumbnail_key
from picadaily.storage import ObjectMissing, ObjectStore

TILE = 400
GRID = math.isqrt(COLLAGE_PICTURES)  # tiles a side
assert GRID * GRID == COLLAGE_PICTURES, "the collage is a square"
TILE_CACHE = 32
CONVERGE_ROUNDS = 3
log = logging.getLogger(__name__)


class CollageMembers(Protocol):
    def candidates(self, count: int, also: list[str]) -> dict[str, str]:
        """Picture id -> created ISO time of the newest ``count`` pictures with a thumbnail,
        and of those of ``also`` still processing or done (one question to the metadata)."""
        ...


@dataclass
class Collage:
    store: ObjectStore
    bucket: str
    members: CollageMembers
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tiles: OrderedDict[str, bytes] = field(default_factory=OrderedDict)

    def update_collage(self, picture_id: str | None = None, *, created: str | None = None,
                       excluding: str | None = None) -> CollageResult:
        """Rebuild if the newest four changed.

        ``picture_id`` is the picture that asked. With ``created`` it is counted in even if the
        metadata has not recorded its thumbnail yet (choreography: both react to the same event);
        ``excluding`` leaves out a picture being deleted or failed. A member whose thumbnail
        object is gone is left out too. A current member the metadata does not list yet (its
        thumbnail not recorded there: it joined through its own ``created``) stays while its
        picture is alive — a rebuild for another picture's deletion must not drop it.

        After a rebuild the collage is read and the newest four asked again, and it is rebuilt
        until the two agree (``CONVERGE_ROUNDS``): two replicas rebuild at once, and the one
        whose write lands last may have asked before the other's picture was listed (the
        cluster drill: a write slowed by the store's fail-over landed after a newer one, and
        the collage went without the newest picture until the next upload).
        """
        with self._lock:
            rebuilt = False
            for _ in range(CONVERGE_ROUNDS):
                result = self._rebuild_once(picture_id, created, excluding)
                if not result.rebuilt:
                    break
                rebuilt = True
            else:
                log.warning("the collage changed under each of %d rebuilds: the next rebuild "
                            "finishes it", CONVERGE_ROUNDS)
            return CollageResult(pictures=result.pictures, rebuilt=rebuilt)

    def _rebuild_once(self, picture_id: str | None, created: str | None,
                      excluding: str | None) -> CollageResult:
        """Rebuild if the newest four differ from the collage's members (a thumbnail is read
        only then)."""
        count = COLLAGE_PICTURES
        current = self.current_members()
        candidates = self.members.candidates(
            count + 2, [m for m in current if m not in (excluding, picture_id)])
        if picture_id and created:
            candidates[picture_id] = created
        if excluding:
            candidates.pop(excluding, None)
            self._tiles.pop(excluding, None)
        ranked = [m for m, _ in sorted(candidates.items(), key=lambda kv: (kv[1], kv[0]),
                                       reverse=True)]
        while True:
            wanted = ranked[:count]
            if wanted == current:
                return CollageResult(pictures=wanted, rebuilt=False)
            if not wanted:
                self.store.delete(self.bucket, COLLAGE_KEY)
                return CollageResult(pictures=[], rebuilt=True)
            try:
                tiles = [self._tile(member) for member in wanted]
            except _TileMissing as missing:
                ranked.remove(missing.picture_id)
                continue
            self.store.put(self.bucket, COLLAGE_KEY, compose(tiles), "image/jpeg",
                           {COLLAGE_MEMBERS_METADATA: ",".join(wanted)})
            return CollageResult(pictures=wanted, rebuilt=True)

    def _tile(self, picture_id: str) -> bytes:
        """A member's thumbnail; recent ones are kept in memory (a thumbnail never changes)."""
        if picture_id in self._tiles:
            self._tiles.move_to_end(picture_id)
            return self._tiles[picture_id]
        try:
            data = self.store.get(self.bucket, thumbnail_key(picture_id)).data
        except ObjectMissing as exc:
            raise _TileMissing(picture_id) from exc
        self._tiles[picture_id] = data
        while len(self._tiles) > TILE_CACHE:
            self._tiles.popitem(last=False)
        return data

    def current_members(self) -> list[str]:
        meta = self.store.head_metadata(self.bucket, COLLAGE_KEY)
        value = (meta or {}).get(COLLAGE_MEMBERS_METADATA, "")
        return value.split(",") if value else []


class _TileMissing(Exception):
    def __init__(self, picture_id: str) -> None:
        super().__init__(picture_id)
        self.picture_id = picture_id


def compose(thumbnails: list[bytes]) -> bytes:
    """A GRID x GRID JPEG; each thumbnail centre-cropped to a square tile, newest top-left."""
    canvas = Image.new("RGB", (TILE * GRID, TILE * GRID), (24, 24, 28))
    for index, data in enumerate(thumbnails[:COLLAGE_PICTURES]):
        if not data:
            continue
        with Image.open(io.BytesIO(data)) as thumb:
            tile = ImageOps.fit(thumb.convert("RGB"), (TILE, TILE), Image.Resampling.LANCZOS)
        canvas.paste(tile, ((index % GRID) * TILE, (index // GRID) * TILE))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()
