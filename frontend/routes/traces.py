"""``/api/pictures/{id}/trace``: the picture's trace as a waterfall, read from the trace store.

One row per span (process, name, offset and duration from the trace's start, depth in the tree),
and the gaps between hops: time a message or a task waited between one process handing it on and
the next picking it up (NATS queueing, Temporal task dispatch) is what no timeline shows.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter

from picadaily.ids import is_valid_picture_id

from ..deps import FrontendDep
from ..errors import http_error

router = APIRouter(prefix="/api/pictures", tags=["traces"])


@router.get("/{picture_id}/trace")
async def picture_trace(picture_id: str, fe: FrontendDep) -> dict[str, Any]:
    if not is_valid_picture_id(picture_id):
        raise http_error(404, "no such picture")
    if not fe.settings.tracing:
        raise http_error(404, "tracing is off (PICADAILY_TRACING=false)")
    try:
        async with httpx.AsyncClient(base_url=fe.settings.traces_url, timeout=10) as client:
            resp = await client.get(f"/pictures/{picture_id}/traces")
            resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise http_error(502, f"the trace store did not answer: {exc!r}") from exc
    traces = resp.json()["traces"]
    if not traces:
        raise http_error(404, "no trace of this picture (yet, or it was not sampled)")
    return {"picture_id": picture_id, "traces": [waterfall(t["trace_id"], t["spans"])
                                                 for t in traces]}


def waterfall(trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows in tree order (children after their parent, by start), times in ms from the start."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_id"] if s["parent_id"] in ids else None
        children.setdefault(parent, []).append(s)
    start = min((s["start_ns"] for s in spans), default=0)
    end = max((s["end_ns"] for s in spans), default=0)
    rows: list[dict[str, Any]] = []

    def visit(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: x["start_ns"]):
            rows.append({
                "span_id": s["span_id"], "parent_id": s["parent_id"], "name": s["name"],
                "process": s["service"].removeprefix("picadaily-"), "kind": s["kind"],
                "depth": depth, "offset_ms": round((s["start_ns"] - start) / 1e6, 2),
                "duration_ms": round((s["end_ns"] - s["start_ns"]) / 1e6, 2),
                "error": s["error"]})
            visit(s["span_id"], depth + 1)

    visit(None, 0)
    roots = len(children.get(None, []))
    work = _union_ms([(s["start_ns"], s["end_ns"]) for s in spans
                      if s["kind"] in ("server", "consumer", "internal")])
    total = (end - start) / 1e6
    return {"trace_id": trace_id, "spans": rows, "roots": roots,
            "processes": sorted({r["process"] for r in rows}),
            "total_ms": round(total, 1), "in_work_ms": round(work, 1),
            "in_transit_ms": round(max(0.0, total - work), 1)}


def _union_ms(intervals: list[tuple[int, int]]) -> float:
    """How much of the time at least one of these intervals covers."""
    covered, current_end = 0, None
    for a, b in sorted(intervals):
        if current_end is None or a > current_end:
            covered += b - a
            current_end = b
        elif b > current_end:
            covered += b - current_end
            current_end = b
    return covered / 1e6
