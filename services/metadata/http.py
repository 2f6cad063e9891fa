"""Metadata's HTTP edge: thin routes over the core."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel

from picadaily.contracts import Analysis, Picture, Registration, Thumbnail, TimelineEntry
from picadaily.event_runtime import event_edge_running
from picadaily.events import changes_subject
from picadaily.http_edge import service_app
from picadaily.settings import Settings
from picadaily.steps import Status

from . import events
from .core import Metadata, PictureNotFound
from .repository import SqlitePictures


class FinalStatus(BaseModel):
    status: Status
    error: str | None = None


class PageOut(BaseModel):
    pictures: list[Picture]
    next_cursor: str | None


def _metadata(request: Request) -> Metadata:
    core: Metadata = request.app.state.metadata
    return core


MetadataDep = Annotated[Metadata, Depends(_metadata)]




def change_publisher(nc: Any, subject: str) -> Callable[[str, str], None]:
    """Tell live pages that a picture changed (from whichever thread the change happened in)."""
    loop = asyncio.get_running_loop()

    def publish(picture_id: str, status: str) -> None:
        body = json.dumps({"id": picture_id, "status": status}).encode()
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(nc.publish(subject, body)))

    return publish


def create_app(settings: Settings, store: SqlitePictures | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        db = store or SqlitePictures(settings.metadata_db_path())
        core = Metadata(db)
        app.state.metadata = core
        async with event_edge_running(settings, "metadata",
                                      lambda edge: events.subscriptions(edge, core)) as edge:
            if edge is not None:
                core.add_listener(change_publisher(edge.nc, changes_subject(settings)))
            yield
        if own:
            db.close()

    app = service_app("metadata", faults=None, lifespan=lifespan)

    @app.exception_handler(PictureNotFound)
    async def _not_found(_: Request, exc: PictureNotFound) -> object:
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": f"no picture {exc}", "retryable": False}, status_code=404)

    @app.put("/pictures/{picture_id}")
    def register(picture_id: str, reg: Registration, md: MetadataDep) -> Picture:
        return md.register(picture_id, reg)

    @app.post("/pictures/{picture_id}/timeline", status_code=204)
    def record_step(picture_id: str, entry: TimelineEntry, md: MetadataDep) -> None:
        md.record_step(picture_id, entry)

    @app.put("/pictures/{picture_id}/analysis", status_code=204)
    def store_analysis(picture_id: str, analysis: Analysis, md: MetadataDep) -> None:
        md.store_analysis(picture_id, analysis)

    @app.put("/pictures/{picture_id}/thumbnail", status_code=204)
    def set_thumbnail(picture_id: str, thumbnail: Thumbnail, md: MetadataDep) -> None:
        md.set_thumbnail(picture_id, thumbnail)

    @app.delete("/pictures/{picture_id}/thumbnail", status_code=204)
    def clear_thumbnail(picture_id: str, md: MetadataDep) -> None:
        md.set_thumbnail(picture_id, None)

    @app.put("/pictures/{picture_id}/status", status_code=204)
    def finish(picture_id: str, final: FinalStatus, md: MetadataDep) -> None:
        md.finish(picture_id, final.status, final.error)

    @app.post("/pictures/{picture_id}/reopen")
    def reopen(picture_id: str, md: MetadataDep) -> Picture:
        return md.reopen(picture_id)

    @app.get("/pictures/{picture_id}")
    def get_picture(picture_id: str, md: MetadataDep) -> Picture:
        return md.get(picture_id)

    @app.delete("/pictures/{picture_id}")
    def delete_picture(picture_id: str, md: MetadataDep) -> dict[str, bool]:
        return {"deleted": md.delete(picture_id)}

    @app.get("/pictures")
    def list_pictures(
        md: MetadataDep,
        label: str | None = None,
        mode: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 24,
        cursor: str | None = None,
    ) -> PageOut:
        try:
            page = md.list_pictures(label=label, mode=mode, status=status, limit=limit,
                                    cursor=cursor)
        except ValueError as exc:
            raise HTTPException(400, {"error": str(exc), "retryable": False}) from exc
        return PageOut(pictures=page.pictures, next_cursor=page.next_cursor)

    @app.get("/stats")
    def stats(md: MetadataDep) -> dict[str, object]:
        return {mode: s.summary() for mode, s in md.stats().items()}

    @app.get("/collage-candidates")
    def collage_candidates(md: MetadataDep, count: int = 4) -> list[Picture]:
        return md.collage_candidates(count)

    return app
