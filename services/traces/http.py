"""The trace store's HTTP edge: OTLP/HTTP in (``POST /v1/traces``, protobuf, what every
process's exporter sends), traces out for the picture page. With
``PICADAILY_TRACES_FORWARD_URL`` set (compose: Jaeger's OTLP endpoint) every export is also
passed on unchanged."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request, Response

from picadaily.http_edge import service_app
from picadaily.settings import Settings

from .store import MalformedSpans, TraceStore, parse_export

log = logging.getLogger(__name__)
PROTOBUF = "application/x-protobuf"


def _store(request: Request) -> TraceStore:
    store: TraceStore = request.app.state.traces
    return store


StoreDep = Annotated[TraceStore, Depends(_store)]


class UnsupportedEncoding(ValueError):
    pass


MAX_EXPORT_BYTES = 64 * 1024 * 1024


def _gunzip(body: bytes) -> bytes:
    """An export's bytes, at most MAX_EXPORT_BYTES of them (a gzip bomb is refused)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, MAX_EXPORT_BYTES)
    except zlib.error as exc:
        raise MalformedSpans(f"the gzip body cannot be read: {exc}") from exc
    if inflate.unconsumed_tail:
        raise MalformedSpans(f"the export inflates past {MAX_EXPORT_BYTES // 2**20} MB")
    return out


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.traces = TraceStore(settings.home / "traces.sqlite3")
        async with httpx.AsyncClient(timeout=5) as forward:
            app.state.forward = forward
            yield
        app.state.traces.close()

    app = service_app("traces", faults=None, internal_token=settings.internal_token,
                      lifespan=lifespan,
                      errors={MalformedSpans: (400, False), UnsupportedEncoding: (415, False)})

    @app.post("/v1/traces")
    async def export(request: Request, store: StoreDep) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != PROTOBUF:
            raise UnsupportedEncoding(f"send OTLP as {PROTOBUF} (OTEL_EXPORTER_OTLP_PROTOCOL="
                                      "http/protobuf); JSON is not read here")
        body = await request.body()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = _gunzip(body)  # OTEL_EXPORTER_OTLP_COMPRESSION=gzip
        spans = parse_export(body)
        await asyncio.to_thread(store.add, spans)
        if settings.traces_forward_url:
            try:
                await request.app.state.forward.post(settings.traces_forward_url, content=body,
                                                     headers={"content-type": PROTOBUF})
            except httpx.HTTPError as exc:
                log.warning("forwarding %d spans to %s failed: %r", len(spans),
                            settings.traces_forward_url, exc)
        # An empty ExportTraceServiceResponse: full success.
        return Response(content=b"", media_type=PROTOBUF)

    @app.get("/traces/{trace_id}")
    def trace(trace_id: str, store: StoreDep) -> dict[str, Any]:
        return {"trace_id": trace_id, "spans": [s.as_dict() for s in store.trace(trace_id)]}

    @app.get("/pictures/{picture_id}/traces")
    def picture_traces(picture_id: str, store: StoreDep) -> dict[str, Any]:
        return {"picture_id": picture_id, "traces": [
            {"trace_id": t, "spans": [s.as_dict() for s in store.trace(t)]}
            for t in store.traces_of_picture(picture_id)]}

    return app
