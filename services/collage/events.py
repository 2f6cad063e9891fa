"""Collage's event edge: rebuild on ``thumbnail.created`` (-> ``collage.updated``), and when a
picture in it fails or is deleted."""

from __future__ import annotations

import asyncio

from picadaily.consumer import EventEdge, Subscription
from picadaily.contracts import CollageResult
from picadaily.events import (
    COLLAGE_UPDATED,
    PICTURE_DELETED,
    PICTURE_FAILED,
    THUMBNAIL_CREATED,
    Event,
)
from picadaily.steps import Step
from picadaily.timeline import CarriedTimeline, TimelineRecorder, timed

from .core import Collage


def subscriptions(edge: EventEdge, core: Collage,
                  timeline: TimelineRecorder) -> list[Subscription[Event]]:
    async def on_thumbnail(event: Event, attempt: int) -> None:
        pid = event.picture_id
        carried = CarriedTimeline(timeline)

        def update() -> CollageResult:
            return core.update_collage(pid, created=event.data.get("created"))

        result = await timed(carried, Step.UPDATE_COLLAGE, pid, event.mode, attempt,
                             lambda: asyncio.to_thread(update), event.version)
        await edge.bus.publish(
            event.follow(COLLAGE_UPDATED, edge.bus.source,
                         {"pictures": result.pictures, "rebuilt": result.rebuilt,
                          "cause": "thumbnail", "width": event.data.get("width"),
                          "height": event.data.get("height"), **carried.as_data()}),
            dedupe_key=f"{pid}:collage:{event.id}")

    async def on_gone(event: Event, attempt: int) -> None:
        result = await asyncio.to_thread(core.update_collage, excluding=event.picture_id)
        if result.rebuilt:
            cause = "deleted" if event.type == PICTURE_DELETED else "failed"
            await edge.bus.publish(
                event.follow(COLLAGE_UPDATED, edge.bus.source,
                             {"pictures": result.pictures, "rebuilt": True, "cause": cause}),
                dedupe_key=f"{event.picture_id}:collage:{event.id}")

    return [
        edge.on("thumbnails", (THUMBNAIL_CREATED,), on_thumbnail, Step.UPDATE_COLLAGE),
        edge.on("gc", (PICTURE_FAILED, PICTURE_DELETED), on_gone, Step.CLEAN_UP),
    ]
