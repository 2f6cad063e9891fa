"""Where every object lives: one key layout, used by every process that names an object.

- ``pictures`` bucket: the originals. An uploaded picture's key is its id; an object put there
  directly by another client is a picture too, and its key is its id (see ``ids``).
- ``thumbnails`` bucket: everything derived, each kind under its own prefix, so that no key a
  client chooses for an original can ever name a derived object:
  ``thumbnails/<picture id>.jpg`` and ``collage/current.jpg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from picadaily.settings import Settings
    from picadaily.storage import ObjectStore

THUMBNAIL_PREFIX = "thumbnails/"
COLLAGE_PREFIX = "collage/"
COLLAGE_KEY = f"{COLLAGE_PREFIX}current.jpg"
# The collage shows the newest this many pictures with a thumbnail (a square: 2 x 2 tiles).
COLLAGE_PICTURES = 4
# The collage object's user metadata names its members (comma-separated picture ids).
COLLAGE_MEMBERS_METADATA = "pictures"


def original_key(picture_id: str) -> str:
    """The key an upload stores its original under."""
    return picture_id


def thumbnail_key(picture_id: str) -> str:
    return f"{THUMBNAIL_PREFIX}{picture_id}.jpg"


def thumbnail_ids(store: ObjectStore, settings: Settings) -> set[str]:
    """The picture ids that have a thumbnail object (for checks: orphans, clean-up)."""
    return {k[len(THUMBNAIL_PREFIX):-len(".jpg")]
            for k in store.list_keys(settings.thumbnails_bucket, THUMBNAIL_PREFIX)}
