"""A trace as the pages show it: a waterfall (rows in tree order, times from the trace's start)
and what it says about the hops: how many process boundaries, time inside processes versus
between them."""

from __future__ import annotations

from typing import Any


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
    by_id = {s["span_id"]: s for s in spans}
    hops = sum(1 for s in spans if s["parent_id"] in by_id
               and by_id[s["parent_id"]]["service"] != s["service"])
    work = _union_ms([(s["start_ns"], s["end_ns"]) for s in spans
                      if s["kind"] in ("server", "consumer", "internal")])
    total = (end - start) / 1e6
    return {"trace_id": trace_id, "spans": rows, "roots": roots,
            "processes": sorted({r["process"] for r in rows}), "hops": hops,
            "spans_count": len(rows), "processes_count": len({r["process"] for r in rows}),
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
