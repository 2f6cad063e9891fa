"""Metadata's HTTP edge: thin routes over the core."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from pydantic import BaseModel

from picadaily.contracts import (
    Analysis,
    CollageCandidate,
    Exif,
    Picture,
    Registration,
    Thumbnail,
    TimelineEntry,
)
from picadaily.event_runtime import event_edge_running
from picadaily.events import changes_subject
from picadaily.http_edge import service_app, watch_event_edge
from picadaily.layout import COLLAGE_PICTURES
from picadaily.service_api import Decision, DecisionOut, Failure, FinalStatus, Ids, ReviewRequest
from picadaily.settings import Settings
from picadaily.steps import FINAL_STATUSES, Status

from . import events
from .core import BadCursor, Metadata, PictureDeleted, PictureNotFound, StaleVersion
from .postgres import PostgresPictures
from .repository import PictureRepository, SqlitePictures

P = ParamSpec("P")
R = TypeVar("R")


class PageOut(BaseModel):
    pictures: list[Picture]
    next_cursor: str | None


async def _metadata(request: Request) -> Metadata:  # (async: no thread hop to read a field)
    core: Metadata = request.app.state.metadata
    return core


def on_the_event_loop(endpoint: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """An endpoint run on the event loop instead of FastAPI's thread pool: an embedded SQLite
    answers in tens of microseconds, less than the hop to a thread and back (measured: ~30 % of
    this service's CPU went to the pool's queues). PostgreSQL's calls wait on the network and
    keep their threads."""
    @functools.wraps(endpoint)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return endpoint(*args, **kwargs)

    return run


def _in_threads(endpoint: Callable[P, R]) -> Callable[P, R]:
    return endpoint


MetadataDep = Annotated[Metadata, Depends(_metadata)]
# The version of the picture a write is about (absent: whichever is current).
VersionDep = Annotated[int | None, Query(ge=1)]


# A picture's writes come in bursts (a step stores its result, then its timeline entries, then
# the next step's): the live pages hear of a picture's non-final changes at most once per this
# many seconds, the latest one; a final status (or a wait for review) goes out at once. (Each
# notification costs a publish here and a push per open page: ~10 per picture before, 3-4 now.)
CHANGES_HOLD_S = 0.1
AT_ONCE = frozenset({*FINAL_STATUSES, Status.AWAITING_REVIEW.value, "deleted"})


def change_publisher(nc: Any, subject: str,
                     hold_s: float = CHANGES_HOLD_S) -> Callable[[str, str], None]:
    """Tell live pages that a picture changed (from whichever thread the change happened in)."""
    loop = asyncio.get_running_loop()
    held: dict[str, str] = {}  # picture id -> its latest non-final status, not yet told

    def send(picture_id: str, status: str) -> None:
        body = json.dumps({"id": picture_id, "status": status}).encode()
        _publish_soon(nc, subject, body)

    def flush(picture_id: str) -> None:
        status = held.pop(picture_id, None)
        if status is not None:
            send(picture_id, status)

    def note(picture_id: str, status: str) -> None:  # on the loop
        if status in AT_ONCE:
            held.pop(picture_id, None)
            send(picture_id, status)
            return
        if picture_id not in held:
            loop.call_later(hold_s, flush, picture_id)
        held[picture_id] = status

    def publish(picture_id: str, status: str) -> None:
        loop.call_soon_threadsafe(note, picture_id, status)

    return publish


_pending: set[asyncio.Task[None]] = set()


def _publish_soon(nc: Any, subject: str, body: bytes) -> None:
    task = asyncio.ensure_future(nc.publish(subject, body))
    _pending.add(task)  # referenced until done, so it cannot be collected mid-flight
    task.add_done_callback(_pending.discard)


def open_repository(settings: Settings) -> SqlitePictures | PostgresPictures:
    if settings.database_url.startswith(("postgresql://", "postgres://")):
        return PostgresPictures(settings.database_url, settings.database_pool_size)
    if settings.database_url:
        raise ValueError(f"PICADAILY_DATABASE_URL {settings.database_url.split(':')[0]}:… is "
                         "not a postgresql:// URL (leave it empty for the embedded SQLite)")
    return SqlitePictures(settings.metadata_db_path())


def create_app(settings: Settings, repo: PictureRepository | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = open_repository(settings) if repo is None else None
        store = own if own is not None else repo
        assert store is not None
        core = Metadata(store)
        app.state.metadata = core
        async with event_edge_running(settings, "metadata",
                                      lambda edge: events.subscriptions(
                                          edge, core, events.on_the_loop if embedded
                                          else asyncio.to_thread)) as edge:
            watch_event_edge(app, edge)
            if edge is not None:
                core.add_listener(change_publisher(edge.nc, changes_subject(settings)))
            yield
        if own is not None:
            own.close()

    embedded = not isinstance(repo, PostgresPictures) if repo is not None \
        else not settings.database_url
    db = on_the_event_loop if embedded else _in_threads
    app = service_app("metadata", faults=None, internal_token=settings.internal_token,
                      lifespan=lifespan,
                      errors={PictureDeleted: (410, False), PictureNotFound: (404, False),
                              StaleVersion: (409, False), BadCursor: (400, False)})

    @app.put("/pictures/{picture_id}")
    @db
    def register(picture_id: str, reg: Registration, md: MetadataDep) -> Picture:
        return md.register(picture_id, reg)

    @app.post("/pictures/{picture_id}/timeline", status_code=204)
    @db
    def record_step(picture_id: str, entry: TimelineEntry | list[TimelineEntry],
                    md: MetadataDep) -> None:
        md.record_steps(picture_id, entry if isinstance(entry, list) else [entry])

    @app.put("/pictures/{picture_id}/analysis", status_code=204)
    @db
    def store_analysis(picture_id: str, analysis: Analysis, md: MetadataDep,
                       version: VersionDep = None) -> None:
        md.store_analysis(picture_id, analysis, version)

    @app.put("/pictures/{picture_id}/review-request")
    @db
    def await_review(picture_id: str, req: ReviewRequest, md: MetadataDep,
                     version: VersionDep = None) -> Picture:
        return md.await_review(picture_id, req.analysis, req.reason, version)

    @app.put("/pictures/{picture_id}/review")
    @db
    def decide_review(picture_id: str, req: Decision, md: MetadataDep,
                      version: VersionDep = None) -> DecisionOut:
        """The first decision about a waiting picture is applied; ``refused`` says why not."""
        out = md.decide_review(picture_id, req.decision, req.decision_id, version)
        return DecisionOut(outcome=out.outcome, reason=out.reason, picture=out.picture)

    @app.put("/pictures/{picture_id}/exif", status_code=204)
    @db
    def store_exif(picture_id: str, exif: Exif, md: MetadataDep,
                   version: VersionDep = None) -> None:
        md.store_exif(picture_id, exif, version)

    @app.put("/pictures/{picture_id}/thumbnail", status_code=204)
    @db
    def set_thumbnail(picture_id: str, thumbnail: Thumbnail, md: MetadataDep,
                      version: VersionDep = None) -> None:
        md.set_thumbnail(picture_id, thumbnail, version)

    @app.delete("/pictures/{picture_id}/thumbnail", status_code=204)
    @db
    def clear_thumbnail(picture_id: str, md: MetadataDep, version: VersionDep = None) -> None:
        md.set_thumbnail(picture_id, None, version)

    @app.put("/pictures/{picture_id}/status", status_code=204)
    @db
    def finish(picture_id: str, final: FinalStatus, md: MetadataDep,
               version: VersionDep = None) -> None:
        md.finish(picture_id, final.status, final.error, version, final.timeline)

    @app.post("/pictures/{picture_id}/reopen")
    @db
    def reopen(picture_id: str, md: MetadataDep) -> Picture:
        return md.reopen(picture_id)

    @app.get("/pictures/{picture_id}")
    @db
    def get_picture(picture_id: str, md: MetadataDep) -> Picture:
        return md.get(picture_id)

    @app.delete("/pictures/{picture_id}")
    @db
    def delete_picture(picture_id: str, md: MetadataDep) -> dict[str, bool]:
        return {"deleted": md.delete(picture_id)}

    @app.post("/pictures/{picture_id}/failure", status_code=204)
    @db
    def fail(picture_id: str, failure: Failure, md: MetadataDep,
             version: VersionDep = None) -> None:
        md.fail(picture_id, failure.error, version)

    @app.get("/pictures")
    @db
    def list_pictures(
        md: MetadataDep,
        label: str | None = None,
        mode: str | None = None,
        status: str | None = None,
        camera: str | None = None,
        year: Annotated[int | None, Query(ge=1800, le=2200)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 24,
        cursor: str | None = None,
        timeline: bool = True,
    ) -> PageOut:
        page = md.list_pictures(label=label, mode=mode, status=status, camera=camera, year=year,
                                limit=limit, cursor=cursor, timeline=timeline)
        return PageOut(pictures=page.pictures, next_cursor=page.next_cursor)

    @app.post("/pictures/states")
    @db
    def states(ids: Ids, md: MetadataDep) -> dict[str, str]:
        """Which of these pictures have a document, were deleted, or are unknown."""
        return md.states(ids.ids)

    @app.get("/stats")
    @db
    def stats(md: MetadataDep) -> dict[str, object]:
        return {mode: s.summary() for mode, s in md.stats().items()}

    @app.get("/collage-candidates")
    @db
    def collage_candidates(md: MetadataDep, count: int = COLLAGE_PICTURES,
                           also: Annotated[list[str] | None, Query(max_length=50)] = None,
                           ) -> list[CollageCandidate]:
        return md.collage_candidates(count, also or [])

    return app
