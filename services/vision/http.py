"""Vision's HTTP edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from picadaily.contracts import Analysis
from picadaily.event_runtime import event_edge_with_timeline
from picadaily.faults import Faults
from picadaily.http_edge import error_body, service_app
from picadaily.settings import Settings
from picadaily.storage import S3ObjectStore

from . import events
from .core import AnalysisBackend, LocalVision, Vision, VisionUnavailable


class AnalyseRequest(BaseModel):
    picture_id: str
    bucket: str
    key: str


def _vision(request: Request) -> Vision:
    vision: Vision = request.app.state.vision
    return vision


def build_backend(settings: Settings) -> AnalysisBackend:
    if settings.vision_backend == "google":
        from .cloud import CloudVision

        return CloudVision.from_settings(settings)
    from .labels import OnnxLabeller
    from .safety import OpenNsfwJudge

    return LocalVision(labeller=OnnxLabeller(), safety_judge=OpenNsfwJudge())


def create_app(settings: Settings, vision: Vision | None = None) -> FastAPI:
    faults = vision.faults if vision else Faults()
    core = vision or Vision(store=S3ObjectStore.from_settings(settings),
                            max_pixels=settings.max_pixels, backend=build_backend(settings),
                            faults=faults)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_edge_with_timeline(settings, "vision", lambda edge, timeline:
                                            events.subscriptions(edge, core, timeline)):
            yield

    app = service_app("vision", faults=faults if settings.fault_injection else None,
                      lifespan=lifespan)
    app.state.vision = core

    @app.exception_handler(VisionUnavailable)
    async def _unavailable(_: Request, exc: VisionUnavailable) -> JSONResponse:
        return JSONResponse(error_body(str(exc), retryable=True), status_code=503)

    @app.post("/analyse")
    def analyse_image(req: AnalyseRequest, vision: Annotated[Vision, Depends(_vision)]) -> Analysis:
        return vision.analyse_image(req.picture_id, req.bucket, req.key)

    return app
