"""The frontend application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser

from picadaily.http_client import service_client
from picadaily.internal_auth import internal_headers
from picadaily.mode import ModeSwitch
from picadaily.nats_util import close_nats, connect_nats
from picadaily.settings import Settings
from picadaily.storage import S3ObjectStore
from picadaily.streams import open_kv

from .admins import Admins
from .body_limit import BodyLimit
from .deps import Frontend
from .routes import (
    collage,
    dead_letters,
    events_doc,
    flows,
    lab,
    live,
    mode,
    pages,
    pictures,
    review,
    session,
    stack,
    stats,
    traces,
    where,
)
from .security_headers import SecurityHeaders

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
# Each uploaded file is held in memory up to this size, spooled to a temporary file past it.
# Starlette's default is 1 MB: past it, every 64 KB of a phone photo went to disk through a thread
# of its own (and came back the same way), when the route reads the whole file into memory next.
UPLOAD_IN_MEMORY_BYTES = 8 * 1024 * 1024


def _with_reason(exc: HTTPException) -> str:
    """The error, with the reason the multipart parser gave when Starlette's says only
    "Invalid multipart data." (a part's headers past its limit: a file name of thousands of
    characters)."""
    text = str(exc.detail)
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not type(cause).__name__.endswith("ParseError"):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return text
    reason = str(cause).rstrip(".").lower()
    hint = " (is a file name thousands of characters long?)" if "header" in reason else ""
    return f"the upload cannot be read as multipart form data: {reason}{hint}"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            metadata = await stack.enter_async_context(
                service_client(settings.metadata_url, timeout=15,
                               headers=internal_headers(settings.internal_token)))
            # One pooled client each for the trace store and the runner's control endpoint (the
            # pages' banner asks the latter every 3 s).
            traces = await stack.enter_async_context(
                httpx.AsyncClient(base_url=settings.traces_url, timeout=10,
                                  headers=internal_headers(settings.internal_token)))
            control = await stack.enter_async_context(
                httpx.AsyncClient(base_url=settings.lab_control_url, timeout=3,
                                  headers=internal_headers(settings.internal_token)))
            nc = await connect_nats(settings, "frontend")
            stack.push_async_callback(close_nats, nc)
            kv = await open_kv(nc.jetstream(), settings)
            store = S3ObjectStore.from_settings(settings)
            scenarios = None
            if settings.lab:  # (the lab's scenario runner is loaded only when the lab is on)
                from .lab_scenarios import ScenarioRunner

                scenarios = ScenarioRunner(settings, nc, nc.jetstream(), metadata, store)
            app.state.frontend = Frontend(settings=settings, metadata=metadata, store=store,
                                          modes=ModeSwitch(kv, settings.default_mode), nats=nc,
                                          kv=kv, scenarios=scenarios, admins=Admins(settings, kv),
                                          traces=traces, control=control,
                                          inspecting=asyncio.Semaphore(
                                              settings.header_checks_at_once))
            yield
            if scenarios is not None:
                await scenarios.cancel()

    # (a class attribute of Starlette's parser: the one knob it has for this)
    MultiPartParser.spool_max_size = UPLOAD_IN_MEMORY_BYTES
    app = FastAPI(title="PicaDaily", lifespan=lifespan)

    app.add_middleware(BodyLimit, limit=settings.max_request_bytes,
                       in_flight=settings.upload_bytes_in_flight)

    # (the outermost: a refusal of BodyLimit carries them too)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        body = detail if isinstance(detail, dict) else {"error": _with_reason(exc)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}"
            for e in exc.errors())
        return JSONResponse({"error": reasons}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "frontend"}

    for module in (session, traces, where, review, pictures, collage, mode, dead_letters, lab, live,
                   stats, stack, events_doc, flows, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
