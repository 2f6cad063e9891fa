"""The metadata core's rules, on each repository (in memory, a real SQLite file, PostgreSQL):
idempotent writes, the first final status wins, tombstones, the first mode wins, done only
when the analysis is stored and the collage updated, and the status each write leaves is what
the listeners hear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from picadaily.contracts import (
    Analysis,
    Colour,
    Exif,
    Label,
    Registration,
    ReviewDecision,
    Safety,
    Thumbnail,
    TimelineEntry,
    utcnow,
)
from picadaily.steps import Status, Step
from services.metadata.core import (
    BadCursor,
    Metadata,
    PictureDeleted,
    PictureNotFound,
    StaleVersion,
)
from services.metadata.postgres import PostgresPictures
from services.metadata.repository import InMemoryPictures, SqlitePictures


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def md(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Metadata]:
    """The same rules over each repository (PostgreSQL: Debian's server, a database per test)."""
    if request.param == "memory":
        yield Metadata(InMemoryPictures())
    elif request.param == "sqlite":
        yield Metadata(SqlitePictures(tmp_path / "m.sqlite3"))
    else:
        repo = PostgresPictures(request.getfixturevalue("postgres_url"), pool_size=2)
        yield Metadata(repo)
        repo.close()


SAFE = Safety(judged=["adult"], likelihoods={"adult": "VERY_UNLIKELY"})
THUMB = Thumbnail(width=400, height=300)


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


def test_entries_that_travel_with_the_final_status_are_recorded_with_it_once(
        md: Metadata) -> None:
    """Orchestration's local steps: their entries come with the final status, in its
    transaction; a repeated status (a retried request) records nothing again, and a status
    refused (another version's) records nothing either."""
    md.register("p1", reg("1.jpg"))
    now = utcnow()
    entries = [TimelineEntry(step=step, started=now + timedelta(milliseconds=i),
                             ended=now + timedelta(milliseconds=i), outcome="ok",
                             mode="orchestration", version=1)
               for i, step in enumerate(("analyse_image", "extract_exif", "check_safety"))]
    with pytest.raises(StaleVersion):
        md.finish("p1", Status.REJECTED, "unsafe", version=0, timeline=entries)
    assert md.get("p1").timeline == []
    md.finish("p1", Status.REJECTED, "unsafe", version=1, timeline=entries)
    md.finish("p1", Status.REJECTED, "unsafe", version=1, timeline=entries[:1])
    doc = md.get("p1")
    assert doc.status == "rejected"
    assert [e.step for e in doc.timeline] == ["analyse_image", "extract_exif", "check_safety"]


def test_entries_recorded_together_are_one_write_of_each(md: Metadata) -> None:
    md.register("p1", reg("1.jpg"))
    now = utcnow()
    md.record_steps("p1", [
        TimelineEntry(step="analyse_image", started=now, ended=now, outcome="ok", version=1),
        TimelineEntry(step="extract_exif", started=now, ended=now, outcome="error", version=1),
        TimelineEntry(step="make_thumbnail", started=now, ended=now, outcome="ok", version=7)])
    assert [e.step for e in md.get("p1").timeline] == ["analyse_image", "extract_exif"]


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
    for garbage in ("garbage", "Zm9v", "fHw="):
        with pytest.raises(BadCursor, match="cursor"):
            md.list_pictures(cursor=garbage)


def test_collage_candidates_are_the_newest_with_a_thumbnail_not_failed(md: Metadata) -> None:
    for i in range(6):
        md.register(f"p{i}", reg(minutes=i))
        md.set_thumbnail(f"p{i}", Thumbnail(width=10, height=10))
    md.finish("p5", Status.FAILED, "broken")
    md.finish("p4", Status.REJECTED, "unsafe")
    md.set_thumbnail("p3", None)
    assert [p.id for p in md.collage_candidates(4)] == ["p2", "p1", "p0"]
    # the collage's current members are answered for too, thumbnail or not, if still alive
    also = ["p3", "p5", "p1", "never-seen", "p3"]
    candidates = md.collage_candidates(2, also)
    assert [p.id for p in candidates] == ["p2", "p1", "p3"]
    # each with the time it was created, as its document has it
    assert [p.created for p in candidates] == [md.get(p.id).created for p in candidates]


def test_missing_pictures_are_reported(md: Metadata) -> None:
    with pytest.raises(PictureNotFound):
        md.get("nope")
    with pytest.raises(PictureNotFound):
        md.status("nope")
    with pytest.raises(PictureNotFound):
        md.finish("nope", Status.DONE)
    assert md.delete("nope") is False


def test_the_first_mode_stored_is_the_mode_that_processes_the_picture(md: Metadata) -> None:
    md.register("p1", reg(mode=None))  # the frontend: no choice made at upload
    assert md.register("p1", reg(mode="choreography")).mode == "choreography"  # the trigger
    assert md.register("p1", reg(mode="orchestration")).mode == "choreography"  # redelivered


def test_a_stale_registration_cannot_bring_a_deleted_picture_back(md: Metadata) -> None:
    put = utcnow()
    md.register("p1", Registration(object_key="p1", created=put))
    md.delete("p1", at=put + timedelta(seconds=5))
    with pytest.raises(PictureDeleted):
        md.register("p1", Registration(object_key="p1", created=put))  # redelivered event
    with pytest.raises(PictureNotFound):
        md.get("p1")
    # a late timeline entry is dropped too
    md.record_step("p1", TimelineEntry(step="analyse_image", started=put, ended=put,
                                       outcome="ok"))
    with pytest.raises(PictureNotFound):
        md.get("p1")
    # an object put under the same key after the deletion is a new picture
    again = md.register("p1", Registration(object_key="p1", created=put + timedelta(seconds=9)))
    assert again.status == "processing"


def test_choreography_is_done_only_with_the_analysis_stored_and_the_collage_updated(
        md: Metadata) -> None:
    md.register("p1", reg(mode="choreography"))
    md.collage_updated("p1", THUMB)  # the collage reported first
    assert md.get("p1").status == "processing"
    md.store_analysis("p1", Analysis(safety=SAFE))
    done = md.get("p1")
    assert (done.status, done.thumbnail) == ("done", THUMB)

    md.register("p2", reg(mode="choreography"))
    md.store_analysis("p2", Analysis(safety=SAFE))
    assert md.get("p2").status == "processing"
    md.collage_updated("p2", THUMB)
    assert md.get("p2").status == "done"


def test_late_or_unrelated_reports_change_nothing(md: Metadata) -> None:
    """A thumbnail reported after the picture failed, and a collage rebuilt for another cause
    (a member deleted or failed) or without a size, say nothing about the picture."""
    md.register("p1", reg(mode="choreography"))
    md.store_analysis("p1", Analysis(safety=SAFE))
    md.collage_updated("p1", THUMB, cause="deleted")
    md.collage_updated("p1", None)
    assert (md.get("p1").status, md.get("p1").collage_updated) == ("processing", False)
    md.fail("p1", "update_collage failed")
    md.set_thumbnail("p1", THUMB, only_while_processing=True)
    assert (md.get("p1").status, md.get("p1").thumbnail) == ("failed", None)
    md.register("p2", reg("b.jpg", mode="choreography"))
    md.set_thumbnail("p2", THUMB, only_while_processing=True)
    assert md.get("p2").thumbnail == THUMB


def test_each_write_tells_the_listeners_the_status_it_left(md: Metadata) -> None:
    told: list[tuple[str, str]] = []
    md.add_listener(lambda picture_id, status: told.append((picture_id, status)))
    step = TimelineEntry(step=Step.ANALYSE_IMAGE, started=utcnow(), ended=utcnow(),
                         outcome="ok", mode="choreography")
    md.register("p1", reg(mode="choreography"))
    md.record_steps("p1", [step])
    md.store_exif("p1", Exif(camera="X"))
    md.set_thumbnail("p1", THUMB)
    md.collage_updated("p1", THUMB)  # the analysis not stored yet: still processing
    md.store_analysis("p1", Analysis(safety=SAFE))  # this one completes it
    md.register("p2", reg("b.jpg", mode="choreography"))
    md.fail("p2", "make_thumbnail failed")
    md.delete("p2")
    assert told == [("p1", "processing")] * 5 + [
        ("p1", "done"), ("p2", "processing"), ("p2", "failed"), ("p2", "deleted")]
    assert md.get("p1").status == md.status("p1") == "done"


def test_a_picture_whose_analysis_was_never_stored_fails_not_done(md: Metadata) -> None:
    md.register("p1", reg(mode="choreography"))
    md.collage_updated("p1", THUMB)
    md.fail("p1", "store_metadata failed after 4 attempts: down")
    doc = md.get("p1")
    assert (doc.status, doc.thumbnail, doc.labels) == ("failed", None, None)
    md.store_analysis("p1", Analysis(safety=SAFE))  # a late success changes no status
    assert md.get("p1").status == "failed"


def test_other_bytes_written_later_are_a_new_version_processed_from_scratch(
        md: Metadata) -> None:
    md.register("p1", Registration(object_key="p1", mode="orchestration"))  # the upload route
    md.register("p1", Registration(object_key="p1", etag="e1",
                                   created=utcnow() + timedelta(seconds=1)))  # its storage event
    md.store_analysis("p1", Analysis(safety=SAFE), version=1)
    md.set_thumbnail("p1", THUMB, version=1)
    md.finish("p1", Status.DONE, version=1)
    assert md.get("p1").version == 1
    md.register("p1", Registration(object_key="p1", etag="e1"))  # a redelivery: same version
    later = utcnow() + timedelta(minutes=1)
    md.register("p1", Registration(object_key="p1", etag="e2", created=later))  # an overwrite
    doc = md.get("p1")
    assert (doc.version, doc.etag, doc.status, doc.safety, doc.thumbnail, doc.timeline,
            doc.mode) == (2, "e2", "processing", None, None, [], "orchestration")
    # everything about version 1 is refused now; an unversioned write still lands
    for write in (lambda: md.store_analysis("p1", Analysis(safety=SAFE), version=1),
                  lambda: md.set_thumbnail("p1", THUMB, version=1),
                  lambda: md.collage_updated("p1", THUMB, version=1),
                  lambda: md.finish("p1", Status.DONE, version=1),
                  lambda: md.fail("p1", "old run gave up", version=1)):
        with pytest.raises(StaleVersion, match="version 1 was replaced by version 2"):
            write()
    now = utcnow()
    md.record_step("p1", TimelineEntry(step="analyse_image", started=now, ended=now,
                                       outcome="ok", version=1))
    assert md.get("p1").timeline == []
    # an event about the replaced original (older, other etag) changes nothing
    md.register("p1", Registration(object_key="p1", etag="e1", created=later - timedelta(1)))
    assert md.get("p1").version == 2
    md.finish("p1", Status.REJECTED, "unsafe", version=2)
    assert md.get("p1").status == "rejected"


def test_a_key_put_again_after_deletion_continues_the_version_count(md: Metadata) -> None:
    md.register("p1", reg())
    md.register("p1", Registration(object_key="p1", etag="e2",
                                   created=utcnow() + timedelta(minutes=1)))
    md.delete("p1", utcnow() + timedelta(minutes=2))
    md.register("p1", Registration(object_key="p1", etag="e3",
                                   created=utcnow() + timedelta(minutes=3)))
    assert md.get("p1").version == 2  # the first had no etag to compare: one version before



BORDERLINE = Safety(judged=["adult"], likelihoods={"adult": "POSSIBLE"})


def waiting(md: Metadata, pid: str = "r1", mode: str = "choreography") -> None:
    md.register(pid, reg(f"{pid}.jpg", mode=mode))
    md.await_review(pid, Analysis(labels=[Label(name="cat", score=0.9)], safety=BORDERLINE),
                    "borderline: adult POSSIBLE; a person decides", 1)


def test_a_borderline_picture_waits_with_its_analysis_and_is_no_collage_candidate(
        md: Metadata) -> None:
    waiting(md)
    waiting(md)  # a redelivery changes nothing
    doc = md.get("r1")
    assert doc.status == Status.AWAITING_REVIEW
    assert doc.review is not None and doc.review.decision is None
    assert doc.review.reason.startswith("borderline")
    assert [x.name for x in doc.labels or []] == ["cat"] and doc.safety == BORDERLINE
    assert md.list_pictures(status="awaiting_review").pictures[0].id == "r1"
    assert md.collage_candidates() == []
    md.finish("r1", Status.DONE)  # only processing pictures end this way
    assert md.get("r1").status == Status.AWAITING_REVIEW


def test_a_waiting_picture_fails_only_when_the_run_holding_it_ended(md: Metadata) -> None:
    """A step's failure does not end a picture waiting for a person; its workflow run ended from
    outside (terminated through Temporal) does, with the reason."""
    waiting(md, mode="orchestration")
    md.fail("r1", "a late step failure")
    assert md.get("r1").status == Status.AWAITING_REVIEW
    md.fail("r1", "its workflow run picture-r1 ended without finishing it (terminated)",
            run_ended=True)
    doc = md.get("r1")
    assert doc.status == Status.FAILED and doc.error is not None and "terminated" in doc.error
    md.fail("r1", "again", run_ended=True)  # final stays final
    assert md.get("r1").error == doc.error


def test_the_first_review_decision_wins_and_its_repeat_is_recognised(md: Metadata) -> None:
    waiting(md)
    approve = ReviewDecision(decision="approve", reason="fine")
    out = md.decide_review("r1", approve, "d1", 1)
    assert (out.outcome, out.picture.status) == ("applied", Status.PROCESSING)
    assert md.decide_review("r1", approve, "d1", 1).outcome == "repeat"
    late = md.decide_review("r1", ReviewDecision(decision="reject", by="timeout"), "t1", 1)
    assert late.outcome == "refused" and "already decided: approve by admin" in late.reason
    doc = md.get("r1")
    assert doc.status == Status.PROCESSING and doc.review and doc.review.note == "fine"
    [entry] = [t for t in doc.timeline if t.step == Step.REVIEW]
    assert entry.outcome == "ok" and entry.started == doc.review.requested
    assert entry.ended == doc.review.decided


@pytest.mark.parametrize(("decision", "error"), [
    (ReviewDecision(decision="reject", reason="a poster of a painting"),
     "rejected by a reviewer: a poster of a painting"),
    (ReviewDecision(decision="reject"), "rejected by a reviewer: no reason given"),
    (ReviewDecision(decision="reject", by="timeout", reason="no decision in 24 h"),
     "no decision in 24 h"),
])
def test_a_rejection_is_final_with_its_reason(md: Metadata, decision: ReviewDecision,
                                              error: str) -> None:
    waiting(md)
    assert md.decide_review("r1", decision, "d1", 1).outcome == "applied"
    doc = md.get("r1")
    assert (doc.status, doc.error) == (Status.REJECTED, error)
    assert doc.finished is not None
    assert [t.outcome for t in doc.timeline if t.step == Step.REVIEW] == ["rejected"]


def test_a_decision_for_a_picture_not_waiting_is_refused(md: Metadata) -> None:
    md.register("r2", reg("r2.jpg"))
    out = md.decide_review("r2", ReviewDecision(decision="approve"), "d1", 1)
    assert out.outcome == "refused" and "not waiting for review (status processing)" in out.reason
    assert md.get("r2").status == Status.PROCESSING
    waiting(md)
    with pytest.raises(StaleVersion):
        md.decide_review("r1", ReviewDecision(decision="approve"), "d1", 2)


def test_a_new_version_forgets_the_review(md: Metadata) -> None:
    md.register("r3", Registration(object_key="r3", etag="a", created=utcnow()))
    md.await_review("r3", Analysis(safety=BORDERLINE), "borderline", 1)
    md.register("r3", Registration(object_key="r3", etag="b",
                                   created=utcnow() + timedelta(seconds=1)))
    doc = md.get("r3")
    assert (doc.version, doc.status, doc.review) == (2, Status.PROCESSING, None)


def test_exif_is_stored_in_any_status_and_filters_the_list_by_camera_and_year(
        md: Metadata) -> None:
    md.register("e1", reg("e1.jpg"))
    md.register("e2", reg("e2.jpg", minutes=1))
    md.finish("e2", Status.DONE)
    md.store_exif("e1", Exif(camera="Canon EOS 5D", year=2019, place="Paris, France"), 1)
    md.store_exif("e2", Exif(camera="FUJIFILM X-T3", year=2021), 1)
    assert md.get("e1").exif == Exif(camera="Canon EOS 5D", year=2019, place="Paris, France")
    assert [p.id for p in md.list_pictures(camera="canon eos 5d ").pictures] == ["e1"]
    assert [p.id for p in md.list_pictures(year=2021).pictures] == ["e2"]
    assert md.list_pictures(camera="Canon EOS 5D", year=2021).pictures == []
    with pytest.raises(StaleVersion):
        md.store_exif("e1", Exif(), 2)


def test_stats_count_the_whole_library_and_time_its_newest_pictures(md: Metadata) -> None:
    """The compare page's figures stay an index walk as the library grows: counts cover every
    picture, timings the newest of each mode (the repository's window)."""
    for i in range(3):
        md.register(f"c{i}", reg(f"c{i}.jpg", minutes=i, mode="choreography"))
        at = utcnow() + timedelta(minutes=i)
        md.record_step(f"c{i}", TimelineEntry(step="analyse_image", started=at,
                                              ended=at + timedelta(milliseconds=10 * (i + 1)),
                                              outcome="ok", mode="choreography"))
        md.finish(f"c{i}", Status.FAILED, "stopped")
    md.register("o0", reg("o0.jpg", mode="orchestration"))
    rows = md._repo.stats_rows(window=2)
    assert sorted((r["mode"], r["status"], r["n"]) for r in rows.counts) == [
        ("choreography", "failed", 3), ("orchestration", "processing", 1)]
    assert sorted(r["id"] for r in rows.pictures) == ["c1", "c2", "o0"]
    assert sorted(r["started"] < r["ended"] for r in rows.steps) == [True, True]
    summary = md.stats()["choreography"].summary()
    assert (summary["pictures"], summary["statuses"]) == (3, {"failed": 3})



def test_stats_give_each_mode_s_critical_path_beside_the_sum_of_its_step_times(
        md: Metadata) -> None:
    """Steps that run at once overlap: the critical path is shorter than their sum."""
    md.register("p", reg("p.jpg", mode="orchestration"))
    at = utcnow()
    for step, start, end in (("analyse_image", 0, 100), ("extract_exif", 0, 60),
                             ("make_thumbnail", 100, 140)):
        md.record_step("p", TimelineEntry(step=step, started=at + timedelta(milliseconds=start),
                                          ended=at + timedelta(milliseconds=end), outcome="ok",
                                          mode="orchestration"))
    md.finish("p", Status.DONE, None)
    summary = md.stats()["orchestration"].summary()
    assert summary["critical_path_ms"]["p50"] == 140.0  # type: ignore[index]
    assert summary["steps_sum_ms"]["p50"] == 200.0  # type: ignore[index]


def test_the_collage_index_s_predicate_never_changes() -> None:
    """The partial index of migration 6 (SQLite) and 4 (PostgreSQL) was created from this text:
    the queries serve from it only while they say exactly the same."""
    from services.metadata.repository import COLLAGE_WHERE

    assert COLLAGE_WHERE == "thumbnail IS NOT NULL AND status IN ('done', 'processing')"
