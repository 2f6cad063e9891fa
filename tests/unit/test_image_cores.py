"""The thumbnails, collage and vision cores with an in-memory object store."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from picadaily.faults import FaultPlan, Faults, InjectedFault, with_faults
from picadaily.imaging import ImageRejected
from picadaily.layout import COLLAGE_KEY, thumbnail_key
from picadaily.storage import InMemoryObjectStore, ObjectMissing
from services.collage.core import Collage
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


def test_a_picture_deleted_while_its_thumbnail_is_made_keeps_no_thumbnail() -> None:
    """Its deletion's clean-up ran before the thumbnail was written (choreography: the two
    consumers are independent): the write is undone, and the step says why."""
    store = InMemoryObjectStore()
    store.put("pictures", "p1", jpeg((10, 200, 10)), "image/jpeg")
    write = store.put

    def put_as_the_original_is_deleted(bucket: str, key: str, *args: Any) -> None:
        store.delete("pictures", "p1")  # the user's deletion lands meanwhile
        write(bucket, key, *args)

    store.put = put_as_the_original_is_deleted  # type: ignore[method-assign]
    with pytest.raises(ObjectMissing, match="deleted while its thumbnail was made"):
        Thumbnails(store, "thumbs", 400, 50_000_000).make_thumbnail("p1", "pictures", "p1")
    assert [k for k in store.objects if k[0] == "thumbs"] == []


class Members:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.processing: dict[str, str] = {}  # known, alive, thumbnail not recorded yet

    def candidates(self, count: int, also: list[str]) -> dict[str, str]:
        # ids are listed newest first; make created times that sort the same way
        out = {i: f"2026-01-01T00:00:{59 - n:02d}" for n, i in enumerate(self.ids[:count])}
        return out | {i: self.processing[i] for i in also if i in self.processing}


def test_collage_rebuilds_only_when_membership_changes() -> None:
    store = InMemoryObjectStore()
    members = Members()
    core = Collage(store, "thumbs", members)
    for i in range(5):
        store.put("thumbs", thumbnail_key(f"p{i}"), jpeg((i * 50, 0, 0), (400, 300)), "image/jpeg")
    members.ids = ["p4", "p3", "p2", "p1", "p0"]
    assert core.update_collage().rebuilt
    assert not core.update_collage().rebuilt  # a duplicate event: no rebuild
    assert core.current_members() == ["p4", "p3", "p2", "p1"]
    # A picture the metadata does not know yet is counted in; one being deleted is left out.
    store.put("thumbs", thumbnail_key("new"), jpeg((0, 0, 255), (400, 300)), "image/jpeg")
    assert core.update_collage("new", created="2026-01-01T00:01:00").pictures == [
        "new", "p4", "p3", "p2"]
    assert core.update_collage(excluding="p4").pictures == ["p3", "p2", "p1", "p0"]
    # ...unless the metadata knows it is alive: a deletion's rebuild must not drop the newest
    members.processing["new"] = "2026-01-01T00:01:00"
    assert core.update_collage("new", created="2026-01-01T00:01:00").pictures[0] == "new"
    assert core.update_collage(excluding="p3").pictures == ["new", "p4", "p2", "p1"]
    members.processing.clear()
    store.delete("thumbs", thumbnail_key("p3"))  # its thumbnail is gone: it cannot be shown
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


def test_fault_injection_wraps_a_core_and_leaves_the_rest_alone() -> None:
    store = InMemoryObjectStore()
    store.put("pictures", "p1", jpeg((200, 10, 10)), "image/jpeg")
    faults = Faults()
    core = with_faults(Thumbnails(store, "thumbs", 400, 50_000_000), faults,
                       {"make_thumbnail": "make_thumbnail"})
    faults.arm(FaultPlan(step="make_thumbnail", times=1, picture_id="p1"))
    with pytest.raises(InjectedFault):
        core.make_thumbnail("p1", "pictures", "p1")
    assert core.make_thumbnail("p1", "pictures", "p1").width == 400
    core.delete_thumbnail("p1")  # not a step: never fails on purpose
    assert core.bucket == "thumbs"


def test_no_picture_key_can_name_the_collage_or_another_kind_of_object() -> None:
    """A picture put straight into the bucket as 'collage.jpg' (or any key) gets a thumbnail
    under the thumbnails prefix; the collage lives under its own."""
    store = InMemoryObjectStore()
    for key in ("collage.jpg", "current.jpg", "collage"):
        store.put("pictures", key, jpeg((10, 10, 10)), "image/jpeg")
        Thumbnails(store, "thumbs", 400, 50_000_000).make_thumbnail(key, "pictures", key)
    core = Collage(store, "thumbs", Members())
    core.members.ids = ["collage.jpg"]  # type: ignore[attr-defined]
    assert core.update_collage().pictures == ["collage.jpg"]
    keys = {k for b, k in store.objects if b == "thumbs"}
    assert COLLAGE_KEY in keys and len(keys) == 4


def test_vision_says_what_it_did_not_compute() -> None:
    vision = Vision(InMemoryObjectStore(), 50_000_000, backend=LocalVision())
    analysis = vision.analyse_bytes(jpeg((10, 20, 200)))
    assert analysis.labels is None and not analysis.safety.computed
    assert any("labels" in n for n in analysis.not_computed)
    colour = analysis.colours[0]
    assert colour.blue > 150 and colour.pixel_fraction > 0.9


def test_a_fault_can_slow_a_step_or_fail_a_share_of_calls() -> None:
    faults = Faults(seed=1)
    faults.arm(FaultPlan(step="analyse_image", times=-1, probability=0.5))
    outcomes = []
    for _ in range(200):
        try:
            faults.check("analyse_image", "p")
            outcomes.append(True)
        except InjectedFault:
            outcomes.append(False)
    assert 60 < outcomes.count(False) < 140
    faults.clear()
    faults.arm(FaultPlan(step="make_thumbnail", times=2, delay_s=0.01, fail=False))
    faults.check("make_thumbnail", "p")  # slowed, not failed
    assert faults.armed()[0]["remaining"] == 1


def test_vision_analyses_at_most_at_once_pictures_at_the_same_time() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    busy, most, lock, both_in = 0, 0, threading.Lock(), threading.Barrier(2, timeout=10)

    class Slow(LocalVision):
        def analyse(self, image: Image.Image) -> Any:
            nonlocal busy, most
            with lock:
                busy += 1
                most = max(most, busy)
            both_in.wait()  # two can be in at once: the third waits for a turn
            with lock:
                busy -= 1
            return super().analyse(image)

    vision = Vision(InMemoryObjectStore(), 50_000_000, backend=Slow(), at_once=2)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(vision.analyse_bytes, [jpeg((10, 20, 200))] * 8))
    assert len(results) == 8 and most == 2


def test_two_replicas_rebuilding_at_once_end_with_the_newest_four() -> None:
    """Replica A asks for the newest four, then its write is slow; meanwhile a newer picture
    arrives and replica B rebuilds with it; A's write lands last, without it. A reads the
    collage back, asks again, and rebuilds: the collage ends with the newest four."""
    members = Members()

    class SlowFirstWrite(InMemoryObjectStore):
        meanwhile: Callable[[], None] | None = None

        def put(self, bucket: str, key: str, data: bytes, content_type: str,
                metadata: dict[str, str] | None = None) -> None:
            if key == COLLAGE_KEY and (other := self.meanwhile) is not None:
                self.meanwhile = None
                other()  # B's whole rebuild happens before A's write lands
            super().put(bucket, key, data, content_type, metadata)

    store = SlowFirstWrite()
    for i in range(6):
        store.put("thumbs", thumbnail_key(f"p{i}"), jpeg((i * 40, 0, 0), (400, 300)),
                  "image/jpeg")
    members.ids = ["p4", "p3", "p2", "p1", "p0"]
    a, b = Collage(store, "thumbs", members), Collage(store, "thumbs", members)

    def newer_picture_arrives() -> None:
        members.ids = ["p5", *members.ids]
        assert b.update_collage("p5").pictures == ["p5", "p4", "p3", "p2"]

    store.meanwhile = newer_picture_arrives
    assert a.update_collage("p4").pictures == ["p5", "p4", "p3", "p2"]
    assert a.current_members() == ["p5", "p4", "p3", "p2"]


def test_a_collage_that_holds_the_newest_four_reads_no_thumbnail() -> None:
    """The members are compared before any tile is read: a replica that has not seen the
    tiles (or a duplicate event) costs a HEAD and one metadata question, not four GETs."""
    members = Members()

    class CountingGets(InMemoryObjectStore):
        gets = 0

        def get(self, bucket: str, key: str) -> Any:
            self.gets += 1
            return super().get(bucket, key)

    store = CountingGets()
    for i in range(4):
        store.put("thumbs", thumbnail_key(f"p{i}"), jpeg((i * 50, 0, 0), (400, 300)),
                  "image/jpeg")
    members.ids = ["p3", "p2", "p1", "p0"]
    assert Collage(store, "thumbs", members).update_collage().rebuilt
    store.gets = 0
    assert not Collage(store, "thumbs", members).update_collage("p3").rebuilt
    assert store.gets == 0
