"""Thumbnails' event edge: a thumbnail for each safe ``picture.analyzed`` and each approved
``picture.reviewed``; garbage collection on ``picture.failed`` and ``picture.deleted`` (the
reactions declared in ``picadaily.choreography``)."""

from __future__ import annotations

import asyncio
from typing import Any

from picadaily.consumer import Delivery, EventEdge, Subscription
from picadaily.event_data import PictureAnalyzed, PictureObject, PictureReviewed, ThumbnailCreated
from picadaily.events import Event
from picadaily.timeline import TimelineRecorder

from .core import Thumbnails


def subscriptions(edge: EventEdge, core: Thumbnails,
                  timeline: TimelineRecorder) -> list[Subscription[Event[Any]]]:
    async def make(picture_id: str, picture: PictureObject) -> ThumbnailCreated:
        thumb = await asyncio.to_thread(core.make_thumbnail, picture_id, picture.bucket,
                                        picture.key)
        return ThumbnailCreated(bucket=picture.bucket, key=picture.key,
                                created=picture.created, **thumb.model_dump())

    async def on_analyzed(event: Event[PictureAnalyzed],
                          delivery: Delivery) -> ThumbnailCreated | None:
        if not event.data.verdict.safe:
            return None  # rejected (or waiting for a person) pictures get no thumbnail
        return await make(event.picture_id, event.data)

    async def on_reviewed(event: Event[PictureReviewed],
                          delivery: Delivery) -> ThumbnailCreated | None:
        if event.data.decision != "approve":  # the metadata applied it: once per version
            return None
        return await make(event.picture_id, event.data)

    async def on_gone(event: Event[Any], delivery: Delivery) -> None:
        await asyncio.to_thread(core.delete_thumbnail, event.picture_id)

    return [
        edge.on("analyzed", on_analyzed, timeline),
        edge.on("reviewed", on_reviewed, timeline),
        edge.on("gc", on_gone, timeline),
    ]
