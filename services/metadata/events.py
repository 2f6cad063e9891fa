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
from typing import Any

from picadaily.consumer import Delivery, EventEdge, Subscription
from picadaily.contracts import Exif, Picture, ReviewDecision, TimelineEntry
from picadaily.event_data import (
    CollageUpdated,
    EventData,
    PictureAnalyzed,
    PictureDeleted,
    PictureExifExtracted,
    PictureFailed,
    PictureReviewDecided,
    PictureReviewed,
    PictureReviewRequested,
    StepReport,
    ThumbnailCreated,
)
from picadaily.events import Event
from picadaily.moderation import review_key, timeout_decision, timeout_due
from picadaily.steps import Status, Step

from .core import Metadata, PictureNotFound, StaleVersion

log = logging.getLogger(__name__)
Handler = Callable[[Any, Delivery], Awaitable[EventData | None]]


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
    async def wrapped(event: Event[Any], delivery: Delivery) -> EventData | None:
        try:
            return await handler(event, delivery)
        except PictureNotFound:
            log.info("%s for %s ignored: the picture was deleted", event.type, event.picture_id)
        except StaleVersion as exc:
            log.info("%s ignored: %s", event.type, exc)
        return None

    return wrapped


def _recording_carried(core: Metadata, run: DbCall, handler: Handler) -> Handler:
    """The timeline entries the event carries (the publishing step's own) are recorded here,
    before the event is handled: no step of another service sends a request of its own."""
    async def wrapped(event: Event[StepReport], delivery: Delivery) -> EventData | None:
        if event.data.timeline:
            await run(core.record_steps, event.picture_id, event.data.timeline)
        return await handler(event, delivery)

    return wrapped


def subscriptions(edge: EventEdge, core: Metadata,
                  run: DbCall = asyncio.to_thread) -> list[Subscription[Event[Any]]]:
    timeline = LocalTimeline(core, run)

    async def on_analyzed(event: Event[PictureAnalyzed], delivery: Delivery) -> None:
        pid, found = event.picture_id, event.data
        if found.verdict.review:
            await request_review(event, delivery)
        elif not found.verdict.safe:
            await run(core.finish, pid, Status.REJECTED, found.verdict.reason, event.version)
        else:
            await delivery.also(Step.STORE_METADATA, lambda: run(
                core.store_analysis, pid, found.analysis, event.version))

    async def request_review(event: Event[PictureAnalyzed], delivery: Delivery) -> None:
        pid = event.picture_id
        picture: Picture = await delivery.also(Step.STORE_METADATA, lambda: run(
            core.await_review, pid, event.data.analysis, event.data.verdict.reason,
            event.version))
        review = picture.review
        if picture.status != Status.AWAITING_REVIEW or review is None:
            return  # decided (or ended) already: a redelivery
        # (again on a redelivery: the same time, replacing the same scheduled message)
        due = timeout_due(review.requested, edge.settings.review_timeout)
        timeout = timeout_decision(edge.settings.review_timeout)
        await edge.bus.schedule(
            event.follow(PictureReviewDecided(**timeout.model_dump()), edge.bus.source),
            at=due, key=review_key(pid))
        await edge.bus.publish(
            event.follow(PictureReviewRequested(reason=event.data.verdict.reason,
                                                timeout_at=due), edge.bus.source),
            dedupe_key=f"{pid}:review_requested:{picture.version}")

    async def on_review_decided(event: Event[PictureReviewDecided], delivery: Delivery) -> None:
        pid = event.picture_id
        decision = ReviewDecision.model_validate(event.data.model_dump())
        out = await run(core.decide_review, pid, decision, event.id, event.version)
        if out.outcome == "refused":
            log.info("review decision for %s ignored: %s", pid, out.reason)
            return
        if decision.by != "timeout":
            await edge.bus.cancel_schedule(review_key(pid))
        picture = out.picture
        reviewed = PictureReviewed(bucket=edge.settings.pictures_bucket, key=picture.object_key,
                                   **decision.model_dump())
        # once per version, whichever decision message came: not the runtime's per-event key
        await edge.bus.publish(event.follow(reviewed, edge.bus.source),
                               dedupe_key=f"{pid}:reviewed:{picture.version}")

    async def on_exif(event: Event[PictureExifExtracted], delivery: Delivery) -> None:
        exif = Exif.model_validate(event.data.model_dump(exclude={"timeline"}))
        await run(core.store_exif, event.picture_id, exif, event.version)

    async def on_thumbnail(event: Event[ThumbnailCreated], delivery: Delivery) -> None:
        await run(core.set_thumbnail, event.picture_id, event.data.thumbnail, event.version,
                  True)  # (only while processing: a late report changes nothing)

    async def on_collage(event: Event[CollageUpdated], delivery: Delivery) -> None:
        await run(core.collage_updated, event.picture_id, event.data.thumbnail, event.version,
                  event.data.cause)

    async def on_failed(event: Event[PictureFailed], delivery: Delivery) -> None:
        await run(core.fail, event.picture_id, event.data.reason, event.version,
                  event.data.run_ended)

    async def on_deleted(event: Event[PictureDeleted], delivery: Delivery) -> None:
        await run(core.delete, event.picture_id, event.data.deleted_at)

    def recorded(handler: Handler) -> Handler:
        return _tolerating_deleted(_recording_carried(core, run, handler))

    return [
        edge.on("analyzed", recorded(on_analyzed), timeline),
        edge.on("review", _tolerating_deleted(on_review_decided), timeline),
        edge.on("exif", recorded(on_exif), timeline),
        edge.on("thumbnails", recorded(on_thumbnail), timeline),
        edge.on("collage", recorded(on_collage), timeline),
        edge.on("failed", _tolerating_deleted(on_failed), timeline),
        edge.on("deleted", on_deleted, timeline),
    ]
