"""Collage's event edge: rebuild on ``thumbnail.created`` (-> ``collage.updated``), and when a
picture in it fails or is deleted (the reactions declared in ``picadaily.choreography``)."""

from __future__ import annotations

import asyncio
from typing import Any

from picadaily.consumer import Delivery, EventEdge, Subscription
from picadaily.event_data import CollageUpdated, PictureDeleted, ThumbnailCreated
from picadaily.events import Event
from picadaily.timeline import TimelineRecorder

from .core import Collage


def subscriptions(edge: EventEdge, core: Collage,
                  timeline: TimelineRecorder) -> list[Subscription[Event[Any]]]:
    async def on_thumbnail(event: Event[ThumbnailCreated], delivery: Delivery) -> CollageUpdated:
        thumb = event.data
        created = thumb.created.isoformat() if thumb.created else None
        result = await asyncio.to_thread(core.update_collage, event.picture_id, created=created)
        return CollageUpdated(pictures=result.pictures, rebuilt=result.rebuilt,
                              cause="thumbnail", width=thumb.width, height=thumb.height)

    async def on_gone(event: Event[Any], delivery: Delivery) -> CollageUpdated | None:
        result = await asyncio.to_thread(core.update_collage, excluding=event.picture_id)
        if not result.rebuilt:
            return None
        return CollageUpdated(pictures=result.pictures, rebuilt=True, cause="deleted"
                              if isinstance(event.data, PictureDeleted) else "failed")

    return [
        edge.on("thumbnails", on_thumbnail, timeline),
        edge.on("gc", on_gone, timeline),
    ]
