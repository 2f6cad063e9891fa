"""Vision's HTTP edge."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from picadaily.contracts import Analysis
from picadaily.faults import Faults
from picadaily.http_edge import service_app
from picadaily.settings import Settings
from picadaily.storage import S3ObjectStore

from .core import Vision


class AnalyseRequest(BaseModel):
    picture_id: str
    bucket: str
    key: str


def _vision(request: Request) -> Vision:
    vision: Vision = request.app.state.vision
    return vision


def build_vision(settings: Settings, faults: Faults) -> Vision:
    return Vision(store=S3ObjectStore.from_settings(settings), max_pixels=settings.max_pixels,
                  faults=faults)


def create_app(settings: Settings, vision: Vision | None = None) -> FastAPI:
    faults = vision.faults if vision else Faults()
    app = service_app("vision", faults=faults if settings.fault_injection else None)
    app.state.vision = vision or build_vision(settings, faults)

    @app.post("/analyse")
    def analyse_image(req: AnalyseRequest, vision: Annotated[Vision, Depends(_vision)]) -> Analysis:
        return vision.analyse_image(req.picture_id, req.bucket, req.key)

    return app
