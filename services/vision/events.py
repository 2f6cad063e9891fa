"""Vision's event edge: ``picture.uploaded`` -> analyse image, check safety -> ``picture.analyzed``
(with the safety verdict). The reaction is declared in ``picadaily.choreography``; the runtime
times the steps and publishes what the handler returns."""

from __future__ import annotations

import asyncio

from picadaily.consumer import Delivery, EventEdge, Subscription
from picadaily.event_data import PictureAnalyzed, PictureUploaded
from picadaily.events import Event
from picadaily.safety import SafetyVerdict, check_safety
from picadaily.steps import Step
from picadaily.timeline import TimelineRecorder

from .core import Vision


def subscriptions(edge: EventEdge, vision: Vision,
                  timeline: TimelineRecorder) -> list[Subscription[Event[PictureUploaded]]]:
    async def on_uploaded(event: Event[PictureUploaded], delivery: Delivery) -> PictureAnalyzed:
        picture = event.data
        analysis = await asyncio.to_thread(vision.analyse_image, event.picture_id,
                                           picture.bucket, picture.key)

        async def verdict() -> SafetyVerdict:
            return check_safety(analysis.safety)

        safety = await delivery.also(Step.CHECK_SAFETY, verdict)
        return PictureAnalyzed(**picture.model_dump(), analysis=analysis, verdict=safety)

    return [edge.on("uploaded", on_uploaded, timeline)]
