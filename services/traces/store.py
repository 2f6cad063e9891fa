"""The trace store: the spans every process exports (OTLP), kept in SQLite so the picture page
can draw a picture's trace as a waterfall without a Docker-only trace server.

Spans are keyed by trace; a span that names a picture (attribute ``picadaily.picture_id``) makes
its trace findable by that picture. Old traces go when the store holds more than ``max_spans``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from picadaily.sqlite import open_sqlite

PICTURE_ATTRIBUTE = "picadaily.picture_id"
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    error TEXT,
    attributes TEXT NOT NULL,
    picture_id TEXT,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_picture ON spans (picture_id) WHERE picture_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ns);
"""


class MalformedSpans(ValueError):
    pass


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    kind: str
    start_ns: int
    end_ns: int
    error: str | None
    attributes: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which) if which else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


def parse_export(body: bytes) -> list[Span]:
    """The spans of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:
        raise MalformedSpans(f"not an OTLP trace export (protobuf): {exc}") from exc
    spans = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", "?"))
        for scope in resource_spans.scope_spans:
            for s in scope.spans:
                if len(s.trace_id) != 16 or len(s.span_id) != 8:
                    raise MalformedSpans("a span without a valid trace or span id")
                spans.append(Span(
                    trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                    parent_id=s.parent_span_id.hex() or None, name=s.name, service=service,
                    kind=KINDS.get(s.kind, "unspecified"), start_ns=s.start_time_unix_nano,
                    end_ns=s.end_time_unix_nano,
                    error=(s.status.message or "error") if s.status.code == 2 else None,
                    attributes=_attributes(s.attributes)))
    return spans


class TraceStore:
    def __init__(self, path: Path | str, max_spans: int = 200_000) -> None:
        self._db = open_sqlite(path)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._max = max_spans
        self._added = 0

    def close(self) -> None:
        self._db.close()

    def add(self, spans: list[Span]) -> None:
        rows = [(s.trace_id, s.span_id, s.parent_id, s.name, s.service, s.kind, s.start_ns,
                 s.end_ns, s.error, json.dumps(s.attributes),
                 _text(s.attributes.get(PICTURE_ATTRIBUTE))) for s in spans]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO spans VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
            self._added += len(rows)
            if self._added > self._max // 10:
                self._added = 0
                self._trim()

    def _trim(self) -> None:
        count = self._db.execute("SELECT count(*) FROM spans").fetchone()[0]
        if count > self._max:
            self._db.execute("DELETE FROM spans WHERE start_ns <= (SELECT start_ns FROM spans "
                             "ORDER BY start_ns LIMIT 1 OFFSET ?)", (count - self._max,))

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns",
                                    (trace_id,)).fetchall()
        return [_span(r) for r in rows]

    def traces_of_picture(self, picture_id: str) -> list[str]:
        """The picture's trace ids, oldest first (an overwrite starts another)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT trace_id, min(start_ns) AS first FROM spans WHERE picture_id = ? "
                "GROUP BY trace_id ORDER BY first", (picture_id,)).fetchall()
        return [r["trace_id"] for r in rows]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _span(row: sqlite3.Row) -> Span:
    return Span(trace_id=row["trace_id"], span_id=row["span_id"], parent_id=row["parent_id"],
                name=row["name"], service=row["service"], kind=row["kind"],
                start_ns=row["start_ns"], end_ns=row["end_ns"], error=row["error"],
                attributes=json.loads(row["attributes"]))
