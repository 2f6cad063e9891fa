"""Vision's HTTP edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from picadaily.contracts import Analysis
from picadaily.event_runtime import event_edge_with_timeline
from picadaily.faults import Faults, with_faults
from picadaily.http_edge import service_app, watch_event_edge
from picadaily.imaging import DecodeBudget
from picadaily.service_api import ImageRequest
from picadaily.settings import Settings
from picadaily.steps import Step
from picadaily.storage import S3ObjectStore

from . import events
from .core import AnalysisBackend, LocalVision, Vision, VisionUnavailable


def _vision(request: Request) -> Vision:
    vision: Vision = request.app.state.vision
    return vision


def build_backend(settings: Settings) -> AnalysisBackend:
    if settings.vision_backend == "google":
        from .cloud import CloudVision

        return CloudVision.from_settings(settings)
    from .labels import OnnxLabeller
    from .safety import OpenNsfwJudge

    return LocalVision(labeller=OnnxLabeller(), safety_judge=OpenNsfwJudge(
        review_band=settings.safety_review_band))


def create_app(settings: Settings, vision: Vision | None = None) -> FastAPI:
    core = vision or Vision(store=S3ObjectStore.from_settings(settings),
                            max_pixels=settings.max_pixels, backend=build_backend(settings),
                            at_once=settings.analyses_at_once,
                            budget=DecodeBudget(settings.decoded_bytes_at_once))
    faults = Faults() if settings.fault_injection else None
    if faults is not None:
        core = with_faults(core, faults, {"analyse_image": Step.ANALYSE_IMAGE})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_edge_with_timeline(settings, "vision", lambda edge, timeline:
                                            events.subscriptions(edge, core, timeline)) as edge:
            watch_event_edge(app, edge)
            yield

    app = service_app("vision", faults=faults, internal_token=settings.internal_token,
                      lifespan=lifespan,
                      errors={VisionUnavailable: (503, True)})
    app.state.vision = core

    @app.post("/analyse")
    def analyse_image(req: ImageRequest, vision: Annotated[Vision, Depends(_vision)]) -> Analysis:
        return vision.analyse_image(req.picture_id, req.bucket, req.key)

    return app
