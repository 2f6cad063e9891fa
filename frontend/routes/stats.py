"""``/api/stats``: the two modes side by side, for the compare page."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter

from picadaily.events import (
    COLLAGE_UPDATED,
    PICTURE_ANALYZED,
    PICTURE_FAILED,
    PICTURE_UPLOADED,
    THUMBNAIL_CREATED,
)
from picadaily.ids import workflow_id_for

from ..deps import FrontendDep
from ..errors import upstream_error

router = APIRouter(prefix="/api", tags=["stats"])
log = logging.getLogger(__name__)
PIPELINE_EVENTS = (PICTURE_UPLOADED, PICTURE_ANALYZED, THUMBNAIL_CREATED, COLLAGE_UPDATED,
                   PICTURE_FAILED)
WORKFLOW_SAMPLE = 20


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
    return {"modes": modes, "notes": notes}


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
