"""The trace store and the waterfall: spans made by the real SDK, encoded by the real OTLP
encoder, read back in tree order."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from frontend.trace_view import waterfall
from picadaily.settings import Settings
from services.traces.http import create_app
from services.traces.store import MalformedSpans, TraceStore, parse_export


def spans_of_one_picture() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "picadaily-frontend"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("accept picture", kind=SpanKind.SERVER,
                                      attributes={"picadaily.picture_id": "p1"}):
        with tracer.start_as_current_span("S3.PutObject", kind=SpanKind.CLIENT):
            pass
        with tracer.start_as_current_span("publish picture.uploaded",
                                          kind=SpanKind.PRODUCER) as span:
            span.set_status(StatusCode.ERROR, "nats down")
    return list(exporter.get_finished_spans())


def test_an_otlp_export_is_stored_and_read_back_as_a_waterfall(tmp_path: Path) -> None:
    body = encode_spans(spans_of_one_picture()).SerializeToString()
    store = TraceStore(tmp_path / "t.sqlite3")
    store.add(parse_export(body))
    store.add(parse_export(body))  # an exporter's retry: no duplicates
    [trace_id] = store.traces_of_picture("p1")
    spans = [s.as_dict() for s in store.trace(trace_id)]
    assert len(spans) == 3 and {s["service"] for s in spans} == {"picadaily-frontend"}
    view = waterfall(trace_id, spans)
    assert [(r["name"], r["depth"]) for r in view["spans"]] == [
        ("accept picture", 0), ("S3.PutObject", 1), ("publish picture.uploaded", 1)]
    assert view["roots"] == 1 and view["spans"][2]["error"] == "nats down"
    assert view["total_ms"] >= view["in_work_ms"] >= 0


def test_the_store_keeps_at_most_its_share_of_spans(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", max_spans=30)
    for _ in range(30):
        store.add(parse_export(encode_spans(spans_of_one_picture()).SerializeToString()))
    assert len(store.traces_of_picture("p1")) <= 11


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"{\"resourceSpans\": []}"[:5]])
def test_a_body_that_is_not_an_otlp_export_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedSpans):
        parse_export(body)


async def test_the_http_edge_takes_protobuf_and_refuses_json_with_its_reason(
        tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://traces") as client:
        body = encode_spans(spans_of_one_picture()).SerializeToString()
        ok = await client.post("/v1/traces", content=body,
                               headers={"content-type": "application/x-protobuf"})
        assert ok.status_code == 200
        zipped = await client.post("/v1/traces", content=gzip.compress(body), headers={
            "content-type": "application/x-protobuf", "content-encoding": "gzip"})
        assert zipped.status_code == 200
        bomb = await client.post("/v1/traces", content=gzip.compress(b"\0" * (65 * 2**20)),
                                 headers={"content-type": "application/x-protobuf",
                                          "content-encoding": "gzip"})
        assert bomb.status_code == 400 and "inflates past" in bomb.json()["error"]
        refused = await client.post("/v1/traces", json={"resourceSpans": []})
        assert refused.status_code == 415 and "http/protobuf" in refused.json()["error"]
        [trace] = (await client.get("/pictures/p1/traces")).json()["traces"]
        assert len(trace["spans"]) == 3
