"""Thumbnails' event edge: a thumbnail for each safe ``picture.analyzed`` and each approved
``picture.reviewed``; garbage collection on
``picture.failed`` and ``picture.deleted``."""

from __future__ import annotations

import asyncio

from picadaily.consumer import EventEdge, Subscription
from picadaily.contracts import Thumbnail
from picadaily.events import (
    PICTURE_ANALYZED,
    PICTURE_DELETED,
    PICTURE_FAILED,
    PICTURE_REVIEWED,
    THUMBNAIL_CREATED,
    Event,
)
from picadaily.steps import Step
from picadaily.timeline import TIMELINE_FIELD, CarriedTimeline, TimelineRecorder, timed

from .core import Thumbnails


def subscriptions(edge: EventEdge, core: Thumbnails,
                  timeline: TimelineRecorder) -> list[Subscription[Event]]:
    async def on_analyzed(event: Event, attempt: int) -> None:
        if not event.data["verdict"]["safe"]:
            return  # rejected (or waiting for a person) pictures get no thumbnail
        await make(event, attempt)

    async def on_reviewed(event: Event, attempt: int) -> None:
        if event.data["decision"] == "approve":  # the metadata applied it: once per version
            await make(event, attempt)

    async def make(event: Event, attempt: int) -> None:
        pid = event.picture_id
        carried = CarriedTimeline(timeline)

        def make() -> Thumbnail:
            return core.make_thumbnail(pid, event.data["bucket"], event.data["key"])

        thumb = await timed(carried, Step.MAKE_THUMBNAIL, pid, event.mode, attempt,
                            lambda: asyncio.to_thread(make), event.version)
        data = {k: v for k, v in event.data.items()
                if k not in {"analysis", "verdict", "decision", "reason", "by", TIMELINE_FIELD}}
        await edge.bus.publish(
            event.follow(THUMBNAIL_CREATED, edge.bus.source,
                         {**data, **thumb.model_dump(), **carried.as_data()}),
            dedupe_key=f"{pid}:thumbnail:{event.id}")

    async def on_gone(event: Event, attempt: int) -> None:
        await asyncio.to_thread(core.delete_thumbnail, event.picture_id)

    return [
        edge.on("analyzed", (PICTURE_ANALYZED,), on_analyzed, Step.MAKE_THUMBNAIL),
        edge.on("reviewed", (PICTURE_REVIEWED,), on_reviewed, Step.MAKE_THUMBNAIL),
        edge.on("gc", (PICTURE_FAILED, PICTURE_DELETED), on_gone, Step.CLEAN_UP),
    ]
