"""Metadata's event edge: stores what the other services found, and the final status.

Moderation in choreography lives here: a borderline ``picture.analyzed`` stores the analysis and
parks the picture in ``awaiting_review`` (the waiting state is this service's row), schedules the
timeout as a JetStream scheduled message (``picture.review_decided`` by "timeout", published by
the server when due: no timer in this process) and announces ``picture.review_requested``. The
first ``picture.review_decided`` is applied and announced as ``picture.reviewed``; any later one
changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from picadaily.consumer import EventEdge, Subscription
from picadaily.contracts import (
    Analysis,
    Exif,
    Picture,
    ReviewDecision,
    Thumbnail,
    TimelineEntry,
)
from picadaily.events import (
    COLLAGE_UPDATED,
    PICTURE_ANALYZED,
    PICTURE_DELETED,
    PICTURE_EXIF_EXTRACTED,
    PICTURE_FAILED,
    PICTURE_REVIEW_DECIDED,
    PICTURE_REVIEW_REQUESTED,
    PICTURE_REVIEWED,
    RUN_ENDED,
    THUMBNAIL_CREATED,
    Event,
)
from picadaily.moderation import review_key, timeout_decision
from picadaily.steps import Status, Step
from picadaily.timeline import carried_entries, timed

from .core import Metadata, PictureNotFound, StaleVersion

log = logging.getLogger(__name__)
Handler = Callable[[Event, int], Awaitable[None]]


# How the handlers call the core: on the event loop for the embedded SQLite (a thread hop costs
# more than its queries), in a thread for PostgreSQL (``http.create_app`` chooses).
DbCall = Callable[..., Awaitable[Any]]


async def on_the_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class LocalTimeline:
    def __init__(self, core: Metadata, run: DbCall) -> None:
        self._core = core
        self._run = run

    async def record(self, picture_id: str, entry: TimelineEntry) -> None:
        await self._run(self._core.record_step, picture_id, entry)


def _tolerating_deleted(handler: Handler) -> Handler:
    """Late messages about a deleted picture, or about a version a newer original replaced,
    change nothing."""
    async def wrapped(event: Event, attempt: int) -> None:
        try:
            await handler(event, attempt)
        except PictureNotFound:
            log.info("%s for %s ignored: the picture was deleted", event.type, event.picture_id)
        except StaleVersion as exc:
            log.info("%s ignored: %s", event.type, exc)

    return wrapped


def _recording_carried(core: Metadata, run: DbCall, handler: Handler) -> Handler:
    """The timeline entries the event carries (the publishing step's own) are recorded here,
    before the event is handled: no step of another service sends a request of its own."""
    async def wrapped(event: Event, attempt: int) -> None:
        entries = carried_entries(event.data)
        if entries:
            await run(core.record_steps, event.picture_id, entries)
        await handler(event, attempt)

    return wrapped


def subscriptions(edge: EventEdge, core: Metadata,
                  run: DbCall = asyncio.to_thread) -> list[Subscription[Event]]:
    timeline = LocalTimeline(core, run)

    async def on_analyzed(event: Event, attempt: int) -> None:
        pid, verdict = event.picture_id, event.data["verdict"]
        if verdict.get("review"):
            await request_review(event, Analysis.model_validate(event.data["analysis"]),
                                 verdict["reason"], attempt)
            return
        if not verdict["safe"]:
            await run(core.finish, pid, Status.REJECTED, verdict["reason"],
                                    event.version)
            return
        analysis = Analysis.model_validate(event.data["analysis"])

        def store() -> None:
            core.store_analysis(pid, analysis, event.version)

        await timed(timeline, Step.STORE_METADATA, pid, event.mode, attempt,
                    lambda: run(store), event.version)

    async def request_review(event: Event, analysis: Analysis, reason: str,
                             attempt: int) -> None:
        pid = event.picture_id

        def park() -> Picture:
            return core.await_review(pid, analysis, reason, event.version)

        picture = await timed(timeline, Step.STORE_METADATA, pid, event.mode, attempt,
                              lambda: run(park), event.version)
        review = picture.review
        if picture.status != Status.AWAITING_REVIEW or review is None:
            return  # decided (or ended) already: a redelivery
        # (again on a redelivery: the same time, replacing the same scheduled message)
        due = review.requested + timedelta(seconds=edge.settings.review_timeout)
        timeout = timeout_decision(edge.settings.review_timeout)
        await edge.bus.schedule(
            event.follow(PICTURE_REVIEW_DECIDED, edge.bus.source, timeout.model_dump()),
            at=due, key=review_key(pid))
        await edge.bus.publish(
            event.follow(PICTURE_REVIEW_REQUESTED, edge.bus.source,
                         {"reason": reason, "timeout_at": due.isoformat()}),
            dedupe_key=f"{pid}:review_requested:{picture.version}")

    async def on_review_decided(event: Event, attempt: int) -> None:
        pid = event.picture_id
        decision = ReviewDecision.model_validate(event.data)
        out = await run(core.decide_review, pid, decision, event.id, event.version)
        if out.outcome == "refused":
            log.info("review decision for %s ignored: %s", pid, out.reason)
            return
        if decision.by != "timeout":
            await edge.bus.cancel_schedule(review_key(pid))
        picture = out.picture
        data = {"bucket": edge.settings.pictures_bucket, "key": picture.object_key,
                **decision.model_dump()}
        await edge.bus.publish(event.follow(PICTURE_REVIEWED, edge.bus.source, data),
                               dedupe_key=f"{pid}:reviewed:{picture.version}")

    async def on_exif(event: Event, attempt: int) -> None:
        await run(core.store_exif, event.picture_id,
                                Exif.model_validate(event.data), event.version)

    async def on_thumbnail(event: Event, attempt: int) -> None:
        if await run(core.status, event.picture_id) != Status.PROCESSING:
            return  # a late message about a picture that failed meanwhile
        thumb = Thumbnail(width=event.data["width"], height=event.data["height"])
        await run(core.set_thumbnail, event.picture_id, thumb, event.version)

    async def on_collage(event: Event, attempt: int) -> None:
        if event.data.get("cause") != "thumbnail":
            return
        thumb = Thumbnail(width=event.data["width"], height=event.data["height"])
        await run(core.collage_updated, event.picture_id, thumb, event.version)

    async def on_failed(event: Event, attempt: int) -> None:
        await run(core.fail, event.picture_id, event.data["reason"], event.version,
                  bool(event.data.get(RUN_ENDED)))

    async def on_deleted(event: Event, attempt: int) -> None:
        at = event.data.get("deleted_at")
        await run(core.delete, event.picture_id,
                                datetime.fromisoformat(at) if at else None)

    return [
        edge.on("analyzed", (PICTURE_ANALYZED,),
                _tolerating_deleted(_recording_carried(core, run, on_analyzed)),
                Step.STORE_METADATA),
        edge.on("review", (PICTURE_REVIEW_DECIDED,), _tolerating_deleted(on_review_decided),
                Step.REVIEW),
        edge.on("exif", (PICTURE_EXIF_EXTRACTED,),
                _tolerating_deleted(_recording_carried(core, run, on_exif)),
                Step.EXTRACT_EXIF),
        edge.on("thumbnails", (THUMBNAIL_CREATED,),
                _tolerating_deleted(_recording_carried(core, run, on_thumbnail)),
                Step.MAKE_THUMBNAIL),
        edge.on("collage", (COLLAGE_UPDATED,),
                _tolerating_deleted(_recording_carried(core, run, on_collage)),
                Step.UPDATE_COLLAGE),
        edge.on("failed", (PICTURE_FAILED,), _tolerating_deleted(on_failed), Step.CLEAN_UP),
        edge.on("deleted", (PICTURE_DELETED,), on_deleted, Step.CLEAN_UP),
    ]
