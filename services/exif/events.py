"""EXIF's event edge: ``picture.uploaded`` -> extract EXIF -> ``picture.exif_extracted``."""

from __future__ import annotations

import asyncio

from picadaily.consumer import EventEdge, Subscription
from picadaily.contracts import Exif
from picadaily.events import PICTURE_EXIF_EXTRACTED, PICTURE_UPLOADED, Event
from picadaily.steps import Step
from picadaily.timeline import CarriedTimeline, TimelineRecorder, timed

from .core import ExifReader


def subscriptions(edge: EventEdge, reader: ExifReader,
                  timeline: TimelineRecorder) -> list[Subscription[Event]]:
    async def on_uploaded(event: Event, attempt: int) -> None:
        pid = event.picture_id
        carried = CarriedTimeline(timeline)

        def extract() -> Exif:
            return reader.extract_exif(pid, event.data["bucket"], event.data["key"])

        exif = await timed(carried, Step.EXTRACT_EXIF, pid, event.mode, attempt,
                           lambda: asyncio.to_thread(extract), event.version)
        await edge.bus.publish(
            event.follow(PICTURE_EXIF_EXTRACTED, edge.bus.source,
                         {**exif.model_dump(), **carried.as_data()}),
            dedupe_key=f"{pid}:exif:{event.id}")

    return [edge.on("uploaded", (PICTURE_UPLOADED,), on_uploaded, Step.EXTRACT_EXIF)]
