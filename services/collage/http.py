"""Collage's HTTP edge. Membership is asked of the metadata service over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from picadaily.contracts import CollageResult
from picadaily.event_runtime import event_edge_with_timeline
from picadaily.faults import Faults, with_faults
from picadaily.http_edge import service_app, watch_event_edge
from picadaily.internal_auth import internal_headers
from picadaily.service_api import CollageRequest
from picadaily.settings import Settings
from picadaily.steps import Step
from picadaily.storage import S3ObjectStore

from . import events
from .core import Collage


class MetadataMembers:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def candidates(self, count: int, also: list[str]) -> dict[str, str]:
        resp = self._client.get("/collage-candidates", params={"count": count, "also": also})
        resp.raise_for_status()
        return {p["id"]: p["created"] for p in resp.json()}


def _collage(request: Request) -> Collage:
    core: Collage = request.app.state.collage
    return core


def create_app(settings: Settings) -> FastAPI:
    faults = Faults() if settings.fault_injection else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with httpx.Client(base_url=settings.metadata_url, timeout=10,
                          headers=internal_headers(settings.internal_token)) as client:
            core = Collage(store=S3ObjectStore.from_settings(settings),
                           bucket=settings.thumbnails_bucket, members=MetadataMembers(client))
            if faults is not None:
                core = with_faults(core, faults, {"update_collage": Step.UPDATE_COLLAGE})
            app.state.collage = core
            async with event_edge_with_timeline(settings, "collage", lambda edge, timeline:
                                                events.subscriptions(edge, core, timeline)) as edge:
                watch_event_edge(app, edge)
                yield

    app = service_app("collage", faults=faults, internal_token=settings.internal_token,
                      lifespan=lifespan)

    @app.post("/collage")
    def update_collage(req: CollageRequest,
                       core: Annotated[Collage, Depends(_collage)]) -> CollageResult:
        return core.update_collage(req.picture_id)

    return app
