"""``/api/stats``: the two modes side by side, for the compare page."""

from __future__ import annotations

import asyncio
import logging
import statistics
from datetime import datetime
from typing import Any

from fastapi import APIRouter

from picadaily.events import (
    COLLAGE_UPDATED,
    PICTURE_ANALYZED,
    PICTURE_FAILED,
    PICTURE_UPLOADED,
    THUMBNAIL_CREATED,
    schedule_subject,
)
from picadaily.ids import workflow_id_for
from picadaily.moderation import review_key

from ..deps import FrontendDep
from ..errors import error_responses, upstream_error
from ..trace_view import waterfall

router = APIRouter(prefix="/api", tags=["stats"],
                   responses=error_responses(400, 404, 422, 502, 503))
log = logging.getLogger(__name__)
PIPELINE_EVENTS = (PICTURE_UPLOADED, PICTURE_ANALYZED, THUMBNAIL_CREATED, COLLAGE_UPDATED,
                   PICTURE_FAILED)
WORKFLOW_SAMPLE = 20
TRACE_SAMPLE = 10


@router.get("/stats")
async def stats(fe: FrontendDep) -> dict[str, Any]:
    resp = await fe.metadata.get("/stats")
    if not resp.is_success:
        raise await upstream_error(resp)
    modes: dict[str, Any] = resp.json()
    notes = []
    choreo = modes.get("choreography")
    if choreo and choreo["pictures"]:
        try:
            info = await fe.nats.jetstream().stream_info(
                fe.settings.events_stream, subjects_filter=f"{fe.settings.event_prefix}.>")
            counts = info.state.subjects or {}
            domain = sum(counts.get(f"{fe.settings.event_prefix}.{t}", 0)
                         for t in PIPELINE_EVENTS)
            # +1: the storage event every picture starts with, in both modes.
            choreo["messages_per_picture"] = round(1 + domain / choreo["pictures"], 1)
        except Exception as exc:
            notes.append(f"NATS message counts unavailable: {exc}")
    orch = modes.get("orchestration")
    if orch and orch["pictures"]:
        orch["messages_per_picture"] = 1.0  # the storage event; the rest is workflow history
        try:
            orch["workflow_events_per_picture"] = await _history_per_picture(fe)
        except Exception as exc:
            notes.append(f"workflow history unavailable: {exc}")
    if fe.settings.tracing:
        for mode, summary in modes.items():
            try:
                summary["observability"] = await _trace_figures(fe, mode)
            except Exception as exc:
                notes.append(f"traces unavailable for {mode}: {exc!r}")
    for mode, summary in modes.items():
        summary["where_is_a_picture"] = WHERE.get(mode)
        try:
            summary["review"] = await _review_figures(fe, mode, summary)
        except Exception as exc:
            notes.append(f"review figures unavailable for {mode}: {exc!r}")
    return {"modes": modes, "notes": notes}


# Where a picture waiting for a person is kept in each style, and what a kill -9 during the
# wait leaves (tests/e2e/test_review.py kills metadata, worker and NATS mid-wait).
REVIEW_STATE = {
    "orchestration": ("in its workflow: the Update that takes the decision and a durable timer "
                      "for the timeout, both in Temporal's history"),
    "choreography": ("in the metadata row (awaiting_review) and, for the timeout, a scheduled "
                     "message in the events stream (JetStream publishes it when due)"),
}
REVIEW_SURVIVES = {
    "orchestration": "all of it: a new worker replays the workflow and waits on; the timer "
                     "fires in the server",
    "choreography": "all of it: the row is in the database, the timeout in NATS's file store; "
                    "the reconciler decides a review whose timeout was lost",
}
REVIEW_SAMPLE = 50


async def _review_figures(fe: Any, mode: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Where the waiting state lives, how many wait, and decision -> final over the last few
    approved pictures."""
    figures: dict[str, Any] = {"state": REVIEW_STATE.get(mode),
                               "survives": REVIEW_SURVIVES.get(mode),
                               "waiting": summary.get("statuses", {}).get("awaiting_review", 0)}
    if mode == "choreography":
        info = await fe.nats.jetstream().stream_info(
            fe.settings.events_stream,
            subjects_filter=schedule_subject(fe.settings, review_key("*")))
        figures["timeouts_scheduled"] = len(info.state.subjects or {})
    resp = await fe.metadata.get("/pictures", params={"mode": mode, "status": "done",
                                                        "limit": REVIEW_SAMPLE})
    after = [(datetime.fromisoformat(p["finished"])
              - datetime.fromisoformat(p["review"]["decided"])).total_seconds() * 1000
             for p in resp.json()["pictures"]
             if p.get("review") and p["review"].get("decided") and p.get("finished")]
    figures["decision_to_done_ms"] = round(statistics.median(after), 1) if after else None
    return figures


# How "where is picture X now?" is answered in each style (GET /api/pictures/{id}/where does it).
WHERE = {
    "orchestration": "its workflow's history says: the step running, its attempt and last "
                     "failure, or the outcome (one query to Temporal)",
    "choreography": "nothing holds it: pieced together from the timeline's last entry, the "
                    "trace's last span and the next consumer's backlog in NATS",
}


async def _trace_figures(fe: Any, mode: str) -> dict[str, Any] | None:
    """Spans, hops and time in transit vs in work, over the last few done pictures' traces."""
    resp = await fe.metadata.get("/pictures", params={"mode": mode, "status": "done",
                                                        "limit": TRACE_SAMPLE})
    ids = [p["id"] for p in resp.json()["pictures"]]
    answers = await asyncio.gather(*(fe.traces.get(f"/pictures/{i}/traces") for i in ids))
    views = [waterfall(t["trace_id"], t["spans"]) for a in answers if a.is_success
             for t in a.json()["traces"][-1:]]
    if not views:
        return None

    def mean(key: str) -> float:
        return round(statistics.fmean(float(v[key]) for v in views), 1)

    return {"pictures": len(views), "spans_per_picture": mean("spans_count"),
            "processes_per_picture": mean("processes_count"), "hops_per_picture": mean("hops"),
            "in_work_ms": mean("in_work_ms"), "in_transit_ms": mean("in_transit_ms")}


async def _history_per_picture(fe: Any) -> float | None:
    resp = await fe.metadata.get("/pictures", params={"mode": "orchestration", "status": "done",
                                                        "limit": WORKFLOW_SAMPLE})
    runs = [(p["id"], p.get("version", 1)) for p in resp.json()["pictures"]]
    if not runs:
        return None
    client = await fe.temporal()
    lengths = await asyncio.gather(*(
        client.get_workflow_handle(workflow_id_for(i, v)).describe() for i, v in runs))
    values = [d.raw_description.workflow_execution_info.history_length for d in lengths]
    return round(sum(values) / len(values), 1)
