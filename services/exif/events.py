"""EXIF's event edge: ``picture.uploaded`` -> extract EXIF -> ``picture.exif_extracted`` (the
reaction declared in ``picadaily.choreography``; the runtime times the step)."""

from __future__ import annotations

import asyncio

from picadaily.consumer import Delivery, EventEdge, Subscription
from picadaily.event_data import PictureExifExtracted, PictureUploaded
from picadaily.events import Event
from picadaily.timeline import TimelineRecorder

from .core import ExifReader


def subscriptions(edge: EventEdge, reader: ExifReader,
                  timeline: TimelineRecorder) -> list[Subscription[Event[PictureUploaded]]]:
    async def on_uploaded(event: Event[PictureUploaded],
                          delivery: Delivery) -> PictureExifExtracted:
        exif = await asyncio.to_thread(reader.extract_exif, event.picture_id, event.data.bucket,
                                       event.data.key)
        return PictureExifExtracted(**exif.model_dump())

    return [edge.on("uploaded", on_uploaded, timeline)]
