"""EXIF's HTTP edge (the workflow's ``extract_exif`` activity calls it), and its event edge
running alongside (choreography)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from picadaily.contracts import Exif
from picadaily.event_runtime import event_edge_with_timeline
from picadaily.faults import Faults, with_faults
from picadaily.http_edge import service_app, watch_event_edge
from picadaily.service_api import ImageRequest
from picadaily.settings import Settings
from picadaily.steps import Step
from picadaily.storage import S3ObjectStore

from . import events
from .core import ExifReader, OfflineGazetteer


def _reader(request: Request) -> ExifReader:
    core: ExifReader = request.app.state.exif
    return core


ExifDep = Annotated[ExifReader, Depends(_reader)]


def build_reader(settings: Settings) -> ExifReader:
    return ExifReader(store=S3ObjectStore.from_settings(settings), gazetteer=OfflineGazetteer())


def create_app(settings: Settings, reader: ExifReader | None = None) -> FastAPI:
    core = reader or build_reader(settings)
    faults = Faults() if settings.fault_injection else None
    if faults is not None:
        core = with_faults(core, faults, {"extract_exif": Step.EXTRACT_EXIF})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_edge_with_timeline(settings, "exif", lambda edge, timeline:
                                            events.subscriptions(edge, core, timeline)) as edge:
            watch_event_edge(app, edge)
            yield

    app = service_app("exif", faults=faults, internal_token=settings.internal_token,
                      lifespan=lifespan)
    app.state.exif = core

    @app.post("/exif")
    def extract_exif(req: ImageRequest, core: ExifDep) -> Exif:
        return core.extract_exif(req.picture_id, req.bucket, req.key)

    return app
