"""The metadata core: every change a picture document goes through, the rules that govern them,
and the queries on it. The SQL lives in a repository (``repository``); the rules live here:

- every write is idempotent: the same call twice leaves the same document;
- the first final status wins: a late or duplicated message never overwrites it;
- a deleted picture leaves a tombstone: a late message (a redelivered created event, a timeline
  entry) cannot bring it back; only an object created *after* the deletion is a new picture;
- the mode a picture was first registered with is the mode it is processed in;
- a newer original under the same key (an overwrite with other bytes) is a new *version*: the
  picture is processed again from scratch, and every write about an older version is refused
  (``StaleVersion``), so no verdict ever covers bytes it did not judge;
- a borderline picture waits in ``awaiting_review`` with its analysis stored; the first decision
  (a person's, or the timeout's) is the one applied, once: a repeat of it is recognised by its id,
  any other decision afterwards changes nothing;
- choreography: a picture is ``done`` only when its analysis is stored *and* the collage was
  updated with its thumbnail, whichever comes last.
"""

from __future__ import annotations

import base64
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from picadaily.contracts import (
    Analysis,
    CollageCandidate,
    Exif,
    Picture,
    Registration,
    Review,
    ReviewDecision,
    Thumbnail,
    TimelineEntry,
    utcnow,
)
from picadaily.layout import COLLAGE_PICTURES
from picadaily.steps import FINAL_STATUSES, PIPELINE, Status, Step

from .repository import PictureRepository, Query


def name_key(name: str | None) -> str | None:
    """Labels and cameras are found whatever their case and surrounding spaces: what is stored
    to find them by, and what a query asks for (the label index keeps names lower-case)."""
    return name.strip().lower() if name and name.strip() else None


class PictureNotFound(Exception):
    pass


class PictureDeleted(PictureNotFound):
    """The picture was deleted after the object this message is about was created."""


class StaleVersion(Exception):
    """A write about a version of the picture that a newer original replaced."""


@dataclass(frozen=True)
class ReviewOutcome:
    """What ``decide_review`` did: ``applied`` (now), ``repeat`` (this same decision had been
    applied: its follow-ups may be sent again), ``refused`` (with the reason)."""

    outcome: str
    picture: Picture
    reason: str = ""


@dataclass(frozen=True)
class Page:
    pictures: list[Picture]
    next_cursor: str | None


ChangeListener = Callable[[str, str], None]  # (picture id, status or "deleted")


class Metadata:
    def __init__(self, repo: PictureRepository) -> None:
        self._repo = repo
        self._listeners: list[ChangeListener] = []

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _changed(self, picture_id: str, status: str) -> None:
        """Tell the listeners the status a write left (known inside its transaction: reading it
        again after cost PostgreSQL a round trip per write)."""
        for listener in self._listeners:
            listener(picture_id, status)

    def _require(self, picture_id: str, *, timeline: bool = False,
                 version: int | None = None) -> Picture:
        """The document; without its timeline unless asked (the writes only read fields).
        ``version``: the version a write is about (None: any); an older one is refused."""
        picture = self._repo.get(picture_id, timeline=timeline)
        if picture is None:
            raise PictureNotFound(f"no picture {picture_id}")
        if version is not None and version != picture.version:
            raise StaleVersion(f"{picture_id} version {version} was replaced by version "
                               f"{picture.version}")
        return picture

    # --- writes -----------------------------------------------------------------------------

    def register(self, picture_id: str, reg: Registration) -> Picture:
        """Create the document (status processing) or fill in what an earlier message lacked.

        The first mode stored is kept. A registration of an object created before the picture's
        deletion (a redelivered storage event) raises ``PictureDeleted``; one created after it
        is a new picture under the same key, with the next version. Another etag, written after
        the stored one, is a new version of the picture: processed again from scratch.
        An older etag (a late event about a replaced original) changes nothing: the caller sees
        that the returned document's etag is not its own."""
        now = utcnow()
        with self._repo.transaction():
            deleted_at = self._repo.tombstone(picture_id)
            version = 1
            if deleted_at is not None:
                if reg.created <= deleted_at:
                    raise PictureDeleted(f"{picture_id} was deleted at {deleted_at.isoformat()}")
                version = self._repo.tombstone_version(picture_id) + 1
                self._repo.set_tombstone(picture_id, None)
            existing = self._repo.get(picture_id, timeline=False)
            if existing is None:
                self._repo.add(Picture(
                    id=picture_id, object_key=reg.object_key, original_name=reg.original_name,
                    content_type=reg.content_type, size=reg.size, created=reg.created,
                    updated=now, mode=reg.mode, status=Status.PROCESSING.value,
                    version=version, etag=reg.etag))
            elif _is_newer_original(existing, reg):
                self._new_version(existing, reg, now)
            else:
                gaps = {name: getattr(reg, name)
                        for name in ("original_name", "content_type", "size", "mode", "etag")
                        if getattr(existing, name) is None and getattr(reg, name) is not None}
                if gaps:
                    self._repo.update(picture_id, **gaps, updated=now)
            picture = self._require(picture_id, timeline=True)  # the trigger reads it
        self._changed(picture_id, picture.status)
        return picture

    def _new_version(self, existing: Picture, reg: Registration, now: datetime) -> None:
        """Start over for new bytes: nothing the old version found or made stands."""
        self._repo.update(
            existing.id, version=existing.version + 1, etag=reg.etag, created=reg.created,
            status=Status.PROCESSING.value, error=None, finished=None, updated=now,
            labels=None, colours=None, safety=None, thumbnail=None, collage_updated=False,
            review=None, exif=None, camera=None, taken_year=None, size=reg.size or existing.size,
            content_type=reg.content_type or existing.content_type,
            original_name=reg.original_name or existing.original_name)
        self._repo.clear_timeline(existing.id)

    def record_step(self, picture_id: str, entry: TimelineEntry) -> None:
        self.record_steps(picture_id, [entry])

    def record_steps(self, picture_id: str, entries: list[TimelineEntry]) -> None:
        """Add timeline entries, in one transaction. A picture first seen here (put straight into
        the bucket) gets a document. A deleted picture's late entries are dropped: they must not
        bring it back; so are an older version's."""
        if not entries:
            return
        recorded = False
        with self._repo.transaction():
            if self._repo.tombstone(picture_id) is not None:
                return
            existing = self._repo.get(picture_id, timeline=False)
            for entry in entries:
                if existing is not None and entry.version not in (None, existing.version):
                    continue
                if existing is None:
                    existing = Picture(
                        id=picture_id, object_key=picture_id, created=entry.started,
                        updated=utcnow(), mode=entry.mode, status=Status.PROCESSING.value)
                    self._repo.add(existing)
                elif existing.mode is None and entry.mode is not None:
                    self._repo.update(picture_id, mode=entry.mode)
                    existing = existing.model_copy(update={"mode": entry.mode})
                self._repo.add_timeline(picture_id, entry)
                recorded = True
        if recorded and existing is not None:
            self._changed(picture_id, existing.status)

    def store_analysis(self, picture_id: str, analysis: Analysis,
                       version: int | None = None) -> None:
        with self._repo.transaction():
            self._require(picture_id, version=version)
            self._repo.update(picture_id, labels=analysis.labels, colours=analysis.colours,
                              safety=analysis.safety, updated=utcnow())
            status = self._done_if_complete(picture_id)
        self._changed(picture_id, status)

    def await_review(self, picture_id: str, analysis: Analysis, reason: str,
                     version: int | None = None) -> Picture:
        """A borderline verdict: the analysis is stored and the picture waits for a person
        (``awaiting_review``). Idempotent: a repeat, or a picture no longer processing, changes
        nothing."""
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            if picture.status == Status.PROCESSING and picture.review is None:
                now = utcnow()
                self._repo.update(picture_id, labels=analysis.labels, colours=analysis.colours,
                                  safety=analysis.safety, status=Status.AWAITING_REVIEW.value,
                                  review=Review(reason=reason, requested=now), updated=now)
            picture = self._require(picture_id)
        self._changed(picture_id, picture.status)
        return picture

    def decide_review(self, picture_id: str, decision: ReviewDecision, decision_id: str,
                      version: int | None = None) -> ReviewOutcome:
        """Apply the first decision about a waiting picture: approved, it goes back to
        ``processing`` (thumbnail and collage follow); rejected, it ends ``rejected`` with the
        reason. The ``review`` timeline entry spans the wait."""
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            review = picture.review
            if review is not None and review.decision is not None:
                if review.decision_id == decision_id:
                    return ReviewOutcome("repeat", picture)
                return ReviewOutcome("refused", picture, f"already decided: {review.decision} "
                                     f"by {review.decided_by}")
            if review is None or picture.status != Status.AWAITING_REVIEW:
                return ReviewOutcome("refused", picture,
                                     f"not waiting for review (status {picture.status})")
            now = utcnow()
            decided = review.model_copy(update={
                "decision": decision.decision, "decided": now, "decided_by": decision.by,
                "note": decision.reason, "decision_id": decision_id})
            self._repo.update(picture_id, review=decided, updated=now)
            approved = decision.decision == "approve"
            self._repo.add_timeline(picture_id, TimelineEntry(
                step=Step.REVIEW, started=review.requested, ended=now, mode=picture.mode,
                outcome="ok" if approved else "rejected", version=picture.version,
                error=None if approved else review_rejection(decision)))
            if approved:
                self._repo.update(picture_id, status=Status.PROCESSING.value)
            else:
                self._set_final(picture_id, Status.REJECTED, review_rejection(decision))
            picture = self._require(picture_id)
        self._changed(picture_id, picture.status)
        return ReviewOutcome("applied", picture)

    def store_exif(self, picture_id: str, exif: Exif, version: int | None = None) -> None:
        """What the file says about itself; in any status (it decides nothing)."""
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            self._repo.update(picture_id, exif=exif, updated=utcnow(),
                              camera=name_key(exif.camera),
                              taken_year=exif.year)
        self._changed(picture_id, picture.status)

    def set_thumbnail(self, picture_id: str, thumbnail: Thumbnail | None,
                      version: int | None = None, only_while_processing: bool = False) -> None:
        """``only_while_processing`` (choreography's report that the thumbnail was made): a late
        report about a picture that is no longer processing (it failed meanwhile) changes
        nothing."""
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            if only_while_processing and picture.status != Status.PROCESSING:
                return
            self._repo.update(picture_id, thumbnail=thumbnail, updated=utcnow())
        self._changed(picture_id, picture.status)

    def collage_updated(self, picture_id: str, thumbnail: Thumbnail | None,
                        version: int | None = None, cause: str = "thumbnail") -> None:
        """Choreography: the collage was rebuilt with this picture's thumbnail. The thumbnail is
        recorded here too (``thumbnail.created`` may still be on its way), so ``done`` always
        comes with its thumbnail; ``done`` also waits for the stored analysis. A rebuild for
        another cause (a member failed or was deleted), or without the thumbnail's size, says
        nothing about this picture."""
        if cause != "thumbnail" or thumbnail is None:
            return
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            if picture.status != Status.PROCESSING:
                return  # failed meanwhile: a late message must not undo the clean-up
            self._repo.update(picture_id, thumbnail=thumbnail, collage_updated=True,
                              updated=utcnow())
            status = self._done_if_complete(picture_id)
        self._changed(picture_id, status)

    def _done_if_complete(self, picture_id: str) -> str:
        """The picture's status after: ``done`` if this completed it."""
        picture = self._require(picture_id)
        if picture.status == Status.PROCESSING and picture.collage_updated \
                and picture.safety is not None and picture.thumbnail is not None:
            self._set_final(picture_id, Status.DONE, None)
            return Status.DONE.value
        return picture.status

    def _set_final(self, picture_id: str, status: Status, error: str | None) -> None:
        now = utcnow()
        self._repo.update(picture_id, status=status.value, error=error, finished=now,
                          updated=now)

    def finish(self, picture_id: str, status: Status, error: str | None = None,
               version: int | None = None, timeline: Sequence[TimelineEntry] = ()) -> None:
        """Set the final status. The first final status wins; a repeat is a no-op (and so are
        the timeline entries that travel with it: recorded with the status, once)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status} is not a final status")
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            if picture.status != Status.PROCESSING:
                return
            for entry in timeline:
                self._repo.add_timeline(picture_id, entry)
            self._set_final(picture_id, status, error)
        self._changed(picture_id, status.value)

    def fail(self, picture_id: str, error: str, version: int | None = None,
             run_ended: bool = False) -> None:
        """A step gave up: the picture ends ``failed`` and loses its thumbnail (its objects are
        cleaned up by their own services). ``run_ended``: the workflow run that held it ended
        without finishing it, so a picture waiting for review fails too (no decision can reach
        it any more)."""
        alive = (Status.PROCESSING, Status.AWAITING_REVIEW) if run_ended else (Status.PROCESSING,)
        with self._repo.transaction():
            picture = self._require(picture_id, version=version)
            if picture.status not in alive:
                return
            self._set_final(picture_id, Status.FAILED, error)
            self._repo.update(picture_id, thumbnail=None, collage_updated=False)
        self._changed(picture_id, Status.FAILED.value)

    def reopen(self, picture_id: str) -> Picture:
        """Back to processing (a dead letter is being redriven)."""
        with self._repo.transaction():
            self._require(picture_id)
            self._repo.update(picture_id, status=Status.PROCESSING.value, error=None,
                              finished=None, updated=utcnow())
            picture = self._require(picture_id, timeline=True)
        self._changed(picture_id, picture.status)
        return picture

    def delete(self, picture_id: str, at: datetime | None = None) -> bool:
        """Garbage collection: the document goes, a tombstone stays (late messages are ignored).
        ``at``: when the original was deleted (the storage event's time)."""
        with self._repo.transaction():
            current = self._repo.get(picture_id, timeline=False)
            existed = self._repo.remove(picture_id)
            previous = self._repo.tombstone(picture_id)
            version = max(current.version if current else 0,
                          self._repo.tombstone_version(picture_id), 1)
            at = at or utcnow()
            if previous is None or previous < at:
                self._repo.set_tombstone(picture_id, at, version)
        if existed:
            self._changed(picture_id, "deleted")
        return existed

    # --- reads ------------------------------------------------------------------------------

    def states(self, picture_ids: list[str]) -> dict[str, str]:
        """For each id: "document", "deleted:<ISO time of the deletion>", or "unknown"."""
        out: dict[str, str] = {}
        with self._repo.transaction():
            for picture_id in picture_ids:
                if self._repo.status(picture_id) is not None:
                    out[picture_id] = "document"
                elif (at := self._repo.tombstone(picture_id)) is not None:
                    out[picture_id] = f"deleted:{at.isoformat()}"
                else:
                    out[picture_id] = "unknown"
        return out

    def get(self, picture_id: str) -> Picture:
        return self._require(picture_id, timeline=True)

    def status(self, picture_id: str) -> str:
        """The status alone (a handler's check; the document would bring its timeline)."""
        status = self._repo.status(picture_id)
        if status is None:
            raise PictureNotFound(f"no picture {picture_id}")
        return status

    def list_pictures(
        self,
        *,
        label: str | None = None,
        mode: str | None = None,
        status: str | None = None,
        camera: str | None = None,
        year: int | None = None,
        limit: int = 24,
        cursor: str | None = None,
        timeline: bool = True,
    ) -> Page:
        """Newest first. ``cursor`` is the opaque ``next_cursor`` of the previous page;
        ``timeline=False`` leaves the timelines out (a reader that only needs the fields)."""
        after = _decode_cursor(cursor) if cursor else None
        ids = self._repo.query(Query(label=name_key(label), mode=mode, status=status,
                                     camera=name_key(camera), year=year, limit=limit + 1,
                                     after=after))
        pictures = [p for i in ids[:limit]
                    if (p := self._repo.get(i, timeline=timeline)) is not None]
        next_cursor = None
        if len(ids) > limit and pictures:
            last = pictures[-1]
            next_cursor = _encode_cursor(last.created.isoformat(), last.id)
        return Page(pictures, next_cursor)

    def collage_candidates(self, count: int = COLLAGE_PICTURES,
                           also: Sequence[str] = ()) -> list[CollageCandidate]:
        """The newest pictures that have a thumbnail and are not rejected or failed, and those
        of ``also`` (the collage's current members) still processing or done, thumbnail or not
        (choreography: the collage may hear of a thumbnail before the metadata does). Ids and
        times only, from one or two queries (whole documents cost 0.5 ms per rebuild)."""
        return [CollageCandidate(id=i, created=datetime.fromisoformat(created))
                for i, created in self._repo.collage_candidates(count, also)]

    def stats(self) -> dict[str, ModeStats]:
        """Per mode: counts (the whole library), and over its newest pictures (the repository's
        window) end-to-end seconds, per-step durations, retries and failures."""
        out: dict[str, ModeStats] = {}
        rows = self._repo.stats_rows()
        for row in rows.counts:
            s = out.setdefault(row["mode"], ModeStats(window=rows.window))
            s.count += row["n"]
            s.statuses[row["status"]] = s.statuses.get(row["status"], 0) + row["n"]
        done = set()
        for row in rows.pictures:
            s = out.setdefault(row["mode"], ModeStats(window=rows.window))
            if row["status"] == Status.DONE and row["finished"]:
                s.e2e_ms.append(_ms(row["created"], row["finished"]))
                done.add(row["id"])
        spans: dict[str, list[tuple[str, str]]] = {}
        mode_of: dict[str, str] = {}
        for row in rows.steps:
            s = out.setdefault(row["mode"], ModeStats(window=rows.window))
            if row["outcome"] == "ok":
                s.step_ms.setdefault(row["step"], []).append(_ms(row["started"], row["ended"]))
                if row["picture_id"] in done and row["step"] in PIPELINE:
                    spans.setdefault(row["picture_id"], []).append(
                        (row["started"], row["ended"]))
                    mode_of[row["picture_id"]] = row["mode"]
            elif row["outcome"] == "error":
                s.step_errors[row["step"]] = s.step_errors.get(row["step"], 0) + 1
            if row["attempt"] > 1:
                s.retries += 1
        for picture_id, steps in spans.items():
            # the critical path: from the first step's start to the last one's end (steps that
            # run at once overlap in it), beside the sum of the step times
            s = out[mode_of[picture_id]]
            s.critical_path_ms.append(_ms(min(a for a, _ in steps), max(b for _, b in steps)))
            s.steps_sum_ms.append(sum(_ms(a, b) for a, b in steps))
        return out


def review_rejection(decision: ReviewDecision) -> str:
    """The reason a rejected review gives."""
    if decision.by == "timeout":
        return decision.reason or "no decision in time"
    return f"rejected by a reviewer: {decision.reason or 'no reason given'}"


def _is_newer_original(existing: Picture, reg: Registration) -> bool:
    """Other bytes, written after the ones the document is about (an overwrite)."""
    return (existing.etag is not None and reg.etag is not None and reg.etag != existing.etag
            and reg.created > existing.created)


@dataclass
class ModeStats:
    window: int = 0  # the timings cover this mode's newest pictures, this many at most
    count: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    e2e_ms: list[float] = field(default_factory=list)
    step_ms: dict[str, list[float]] = field(default_factory=dict)
    step_errors: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    critical_path_ms: list[float] = field(default_factory=list)  # per done picture
    steps_sum_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "pictures": self.count,
            "statuses": self.statuses,
            "timings_cover_newest": self.window,
            "e2e_ms": _percentiles(self.e2e_ms),
            "steps": {step: {**_percentiles(v), "errors": self.step_errors.get(step, 0)}
                      for step, v in self.step_ms.items()},
            "step_errors": self.step_errors,
            "retried_attempts": self.retries,
            "critical_path_ms": _percentiles(self.critical_path_ms),
            "steps_sum_ms": _percentiles(self.steps_sum_ms),
        }


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "mean": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": round(statistics.median(ordered), 1),
            "p95": round(p95, 1), "mean": round(statistics.fmean(ordered), 1)}


def _ms(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def _encode_cursor(created: str, picture_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created}|{picture_id}".encode()).decode()


class BadCursor(ValueError):
    pass


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, picture_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        datetime.fromisoformat(created)
    except Exception as exc:
        raise BadCursor("the paging cursor is not one this server gave out; "
                        "start again without it") from exc
    return created, picture_id
