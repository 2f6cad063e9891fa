"""The thumbnails, collage and vision cores with an in-memory object store."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from picadaily.faults import FaultPlan, Faults, InjectedFault
from picadaily.imaging import ImageRejected
from picadaily.storage import InMemoryObjectStore
from services.collage.core import COLLAGE_KEY, Collage
from services.thumbnails.core import Thumbnails
from services.vision.core import LocalVision, Vision


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def test_thumbnail_is_at_most_400_and_idempotent() -> None:
    store = InMemoryObjectStore()
    store.put("pictures", "p1", jpeg((200, 10, 10), (1200, 300)), "image/jpeg")
    core = Thumbnails(store, "thumbs", 400, 50_000_000)
    first = core.make_thumbnail("p1", "pictures", "p1")
    again = core.make_thumbnail("p1", "pictures", "p1")
    assert (first.width, first.height) == (400, 100) == (again.width, again.height)
    assert len([k for k in store.objects if k[0] == "thumbs"]) == 1


def test_thumbnail_of_a_broken_picture_is_rejected() -> None:
    store = InMemoryObjectStore()
    store.put("pictures", "p1", b"garbage", "image/jpeg")
    with pytest.raises(ImageRejected):
        Thumbnails(store, "thumbs", 400, 50_000_000).make_thumbnail("p1", "pictures", "p1")


class Members:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def newest_with_thumbnail(self, count: int) -> list[tuple[str, str]]:
        # ids are listed newest first; make created times that sort the same way
        return [(i, f"2026-01-01T00:00:{59 - n:02d}") for n, i in enumerate(self.ids[:count])]


def test_collage_rebuilds_only_when_membership_changes() -> None:
    store = InMemoryObjectStore()
    members = Members()
    core = Collage(store, "thumbs", members)
    for i in range(5):
        store.put("thumbs", f"p{i}", jpeg((i * 50, 0, 0), (400, 300)), "image/jpeg")
    members.ids = ["p4", "p3", "p2", "p1", "p0"]
    assert core.update_collage().rebuilt
    assert not core.update_collage().rebuilt  # a duplicate event: no rebuild
    assert core.current_members() == ["p4", "p3", "p2", "p1"]
    # A picture the metadata does not know yet is counted in; one being deleted is left out.
    store.put("thumbs", "new", jpeg((0, 0, 255), (400, 300)), "image/jpeg")
    assert core.update_collage("new", created="2026-01-01T00:01:00").pictures == [
        "new", "p4", "p3", "p2"]
    assert core.update_collage(excluding="p4").pictures == ["p3", "p2", "p1", "p0"]
    store.delete("thumbs", "p3")  # its thumbnail is gone: it cannot be shown
    fresh = Collage(store, "thumbs", members)  # (the running core keeps tiles it has seen)
    assert fresh.update_collage().pictures == ["p4", "p2", "p1", "p0"]
    members.ids = []
    assert fresh.update_collage().rebuilt
    assert ("thumbs", COLLAGE_KEY) not in store.objects


def test_faults_fail_the_planned_number_of_calls_for_the_planned_picture() -> None:
    faults = Faults()
    faults.arm(FaultPlan(step="make_thumbnail", times=2, picture_id="p1"))
    faults.check("make_thumbnail", "other")
    for _ in range(2):
        with pytest.raises(InjectedFault):
            faults.check("make_thumbnail", "p1")
    faults.check("make_thumbnail", "p1")


def test_vision_says_what_it_did_not_compute() -> None:
    vision = Vision(InMemoryObjectStore(), 50_000_000, backend=LocalVision())
    analysis = vision.analyse_bytes(jpeg((10, 20, 200)))
    assert analysis.labels is None and not analysis.safety.computed
    assert any("labels" in n for n in analysis.not_computed)
    colour = analysis.colours[0]
    assert colour.blue > 150 and colour.pixel_fraction > 0.9
