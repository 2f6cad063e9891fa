"""Thumbnails' HTTP edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from picadaily.contracts import Thumbnail
from picadaily.event_runtime import event_edge_with_timeline
from picadaily.faults import Faults, with_faults
from picadaily.http_edge import service_app, watch_event_edge
from picadaily.imaging import DecodeBudget
from picadaily.service_api import ImageRequest
from picadaily.settings import Settings
from picadaily.steps import Step
from picadaily.storage import S3ObjectStore

from . import events
from .core import Thumbnails


def _thumbnails(request: Request) -> Thumbnails:
    core: Thumbnails = request.app.state.thumbnails
    return core


ThumbnailsDep = Annotated[Thumbnails, Depends(_thumbnails)]


def build_thumbnails(settings: Settings) -> Thumbnails:
    return Thumbnails(store=S3ObjectStore.from_settings(settings),
                      bucket=settings.thumbnails_bucket, size=settings.thumbnail_size,
                      max_pixels=settings.max_pixels,
                      budget=DecodeBudget(settings.decoded_bytes_at_once))


def create_app(settings: Settings, thumbnails: Thumbnails | None = None) -> FastAPI:
    core = thumbnails or build_thumbnails(settings)
    faults = Faults() if settings.fault_injection else None
    if faults is not None:
        core = with_faults(core, faults, {"make_thumbnail": Step.MAKE_THUMBNAIL})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_edge_with_timeline(settings, "thumbnails", lambda edge, timeline:
                                            events.subscriptions(edge, core, timeline)) as edge:
            watch_event_edge(app, edge)
            yield

    app = service_app("thumbnails", faults=faults, internal_token=settings.internal_token,
                      lifespan=lifespan)
    app.state.thumbnails = core

    @app.post("/thumbnails")
    def make_thumbnail(req: ImageRequest, core: ThumbnailsDep) -> Thumbnail:
        return core.make_thumbnail(req.picture_id, req.bucket, req.key)

    @app.delete("/thumbnails/{picture_id}", status_code=204)
    def delete_thumbnail(picture_id: str, core: ThumbnailsDep) -> None:
        core.delete_thumbnail(picture_id)

    return app
