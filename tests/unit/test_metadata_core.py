"""The metadata core on a real SQLite file: idempotent writes, final status wins, queries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from picadaily.contracts import (
    Analysis,
    Colour,
    Label,
    Registration,
    Thumbnail,
    TimelineEntry,
    utcnow,
)
from picadaily.steps import Status
from services.metadata.core import Metadata, PictureNotFound
from services.metadata.repository import SqlitePictures


@pytest.fixture
def md(tmp_path: Path) -> Metadata:
    return Metadata(SqlitePictures(tmp_path / "m.sqlite3"))


def reg(name: str = "a.jpg", minutes: int = 0, mode: str | None = None) -> Registration:
    return Registration(object_key=name, original_name=name, mode=mode,
                        created=utcnow() + timedelta(minutes=minutes))


def test_registering_twice_keeps_one_document_and_fills_gaps(md: Metadata) -> None:
    md.register("p1", Registration(object_key="p1"))
    md.register("p1", reg("cat.jpg", mode="orchestration"))
    doc = md.get("p1")
    assert (doc.original_name, doc.mode, doc.status) == ("cat.jpg", "orchestration", "processing")


def test_the_first_final_status_wins(md: Metadata) -> None:
    md.register("p1", reg())
    md.finish("p1", Status.DONE)
    md.finish("p1", Status.FAILED, "late duplicate")
    doc = md.get("p1")
    assert (doc.status, doc.error) == ("done", None)


def test_a_timeline_entry_for_an_unknown_picture_creates_it(md: Metadata) -> None:
    now = utcnow()
    entry = TimelineEntry(step="analyse_image", started=now, ended=now, outcome="ok",
                          mode="orchestration")
    md.record_step("direct-put", entry)
    md.record_step("direct-put", entry)  # the same entry twice is one entry
    doc = md.get("direct-put")
    assert doc.status == "processing" and len(doc.timeline) == 1


def test_labels_filter_and_paging(md: Metadata) -> None:
    for i in range(5):
        md.register(f"p{i}", reg(f"{i}.jpg", minutes=i))
        md.store_analysis(f"p{i}", Analysis(
            labels=[Label(name="Cat" if i % 2 else "Coffee", score=0.9)],
            colours=[Colour(red=1, green=2, blue=3, pixel_fraction=1.0)]))
    cats = md.list_pictures(label="cat")
    assert [p.id for p in cats.pictures] == ["p3", "p1"]
    first = md.list_pictures(limit=2)
    assert [p.id for p in first.pictures] == ["p4", "p3"] and first.next_cursor
    second = md.list_pictures(limit=2, cursor=first.next_cursor)
    assert [p.id for p in second.pictures] == ["p2", "p1"]
    with pytest.raises(ValueError, match="cursor"):
        md.list_pictures(cursor="garbage")


def test_collage_candidates_are_the_newest_with_a_thumbnail_not_failed(md: Metadata) -> None:
    for i in range(6):
        md.register(f"p{i}", reg(minutes=i))
        md.set_thumbnail(f"p{i}", Thumbnail(width=10, height=10))
    md.finish("p5", Status.FAILED, "broken")
    md.finish("p4", Status.REJECTED, "unsafe")
    md.set_thumbnail("p3", None)
    assert [p.id for p in md.collage_candidates(4)] == ["p2", "p1", "p0"]


def test_missing_pictures_are_reported(md: Metadata) -> None:
    with pytest.raises(PictureNotFound):
        md.get("nope")
    with pytest.raises(PictureNotFound):
        md.finish("nope", Status.DONE)
    assert md.delete("nope") is False
