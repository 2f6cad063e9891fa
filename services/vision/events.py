"""Vision's event edge: ``picture.uploaded`` -> analyse image, check safety -> ``picture.analyzed``
(with the safety verdict)."""

from __future__ import annotations

import asyncio

from picadaily.consumer import EventEdge, Subscription
from picadaily.contracts import Analysis
from picadaily.events import PICTURE_ANALYZED, PICTURE_UPLOADED, Event
from picadaily.safety import SafetyVerdict, check_safety
from picadaily.steps import Step
from picadaily.timeline import CarriedTimeline, TimelineRecorder, timed

from .core import Vision


def subscriptions(edge: EventEdge, vision: Vision,
                  timeline: TimelineRecorder) -> list[Subscription[Event]]:
    async def on_uploaded(event: Event, attempt: int) -> None:
        pid, mode = event.picture_id, event.mode
        carried = CarriedTimeline(timeline)

        def analyse() -> Analysis:
            return vision.analyse_image(pid, event.data["bucket"], event.data["key"])

        analysis = await timed(carried, Step.ANALYSE_IMAGE, pid, mode, attempt,
                               lambda: asyncio.to_thread(analyse), event.version)

        async def verdict() -> SafetyVerdict:
            return check_safety(analysis.safety)

        safety = await timed(carried, Step.CHECK_SAFETY, pid, mode, attempt, verdict,
                             event.version)
        data = {**event.data, "analysis": analysis.model_dump(mode="json"),
                "verdict": safety.model_dump(), **carried.as_data()}
        await edge.bus.publish(event.follow(PICTURE_ANALYZED, edge.bus.source, data),
                               dedupe_key=f"{pid}:analyzed:{event.id}")

    return [edge.on("uploaded", (PICTURE_UPLOADED,), on_uploaded, Step.ANALYSE_IMAGE)]
