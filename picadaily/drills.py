"""What the drills share: the lab's scenarios (a product feature, so this is in the kernel) and
the chaos and durability drills of the bench and the tests: their pictures, and what counts as
a thing left behind."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

from PIL import Image


def sample_jpeg(n: int) -> bytes:
    """A small JPEG of its own colour for each ``n``.

    Cool colours only (red below 128, blue above): the safety model calls a few warm ones
    borderline, and a drill picture must not wait for a person."""
    colour = ((n * 37) % 128, (n * 91) % 256, 128 + (n * 53) % 128)
    out = io.BytesIO()
    Image.new("RGB", (96, 72), colour).save(out, "JPEG")
    return out.getvalue()


def orphan_thumbnails(thumbnails: Iterable[str],
                      statuses: Mapping[str, str | None]) -> set[str]:
    """The thumbnails nothing should have left: of a picture that is gone (status None, or not
    in ``statuses`` at all) or that ended other than ``done`` (failed, rejected: their clean-up
    deletes the thumbnail). Asked when the drill is over: no picture is processing then."""
    return {i for i in thumbnails if statuses.get(i) != "done"}
