"""``/api/flows``: each style's flow as the code declares it (the workflow's step order, the
choreography's reactions) and the lines each style needs to state its flow and its handlers,
counted from the files (once per process: they do not change under it; typed in nowhere);
``/api/flows/live``: what is happening on each of them now (the ``/flows`` page draws both side
by side)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter

import picadaily
from picadaily import choreography
from picadaily.steps import PIPELINE

from ..deps import Frontend, FrontendDep
from ..errors import error_responses

router = APIRouter(prefix="/api", tags=["flows"], responses=error_responses(503))
# The installed packages sit side by side (a checkout or site-packages): files found from here.
ROOT = Path(picadaily.__file__).resolve().parent.parent
# Running workflows whose pending activities are read per request, at most.
LIVE_SAMPLE = 20
# What each style needs to state its flow, and to run each step's work (its "handlers").
FLOW_FILES = {
    "orchestration": (["workflow/process_picture.py", "workflow/inputs.py"],
                      ["workflow/activities.py"]),
    "choreography": (["picadaily/choreography.py", "picadaily/event_data.py"],
                     [f"services/{s}/events.py"
                      for s in dict.fromkeys(r.service for r in choreography.REACTIONS)]),
}


def _lines(path: str) -> dict[str, Any]:
    file = ROOT / path
    try:
        return {"file": path, "lines": len(file.read_text(encoding="utf-8").splitlines())}
    except OSError as exc:
        return {"file": path, "lines": None, "error": f"not readable here: {exc.strerror}"}


@functools.cache
def code_counts() -> dict[str, Any]:
    out = {}
    for style, (flow, handlers) in FLOW_FILES.items():
        flow_files = [_lines(p) for p in flow]
        handler_files = [_lines(p) for p in handlers]
        out[style] = {"flow": flow_files, "handlers": handler_files,
                      "flow_lines": sum(f["lines"] or 0 for f in flow_files),
                      "handler_lines": sum(f["lines"] or 0 for f in handler_files)}
    return out


@router.get("/flows")
async def flows() -> dict[str, Any]:
    return {
        "orchestration": {"steps": [s.value for s in PIPELINE], "at_once": []},
        "choreography": {"reactions": [
            {"consumer": r.durable, "service": r.service, "on": list(r.types),
             "step": r.step.value, "publishes": [m.TYPE for m in r.publishes], "does": r.does}
            for r in choreography.REACTIONS]},
        "code": code_counts(),
    }


@router.get("/flows/live")
async def live(fe: FrontendDep) -> dict[str, Any]:
    """Per durable consumer, the messages waiting, being handled and redelivered (NATS); per
    step, the activities running and retrying in the newest running workflows (Temporal)."""
    consumers, steps = await asyncio.gather(_consumers(fe), _activities(fe))
    return {"consumers": consumers, **steps, "temporal_ui": fe.settings.temporal_ui_url}


async def _consumers(fe: Frontend) -> dict[str, Any]:
    js = fe.nats.jetstream()

    async def one(durable: str) -> tuple[str, dict[str, Any]]:
        try:
            info = await js.consumer_info(fe.settings.events_stream, durable)
        except Exception as exc:
            return durable, {"error": f"unavailable: {exc!r}"}
        return durable, {"waiting": info.num_pending, "being_handled": info.num_ack_pending,
                         "redelivered": info.num_redelivered}

    return dict(await asyncio.gather(*(one(r.durable) for r in choreography.REACTIONS)))


async def _activities(fe: Frontend) -> dict[str, Any]:
    """Pending activities of the newest running workflows (a step's first, local attempts are
    not in the history until they are done: a step shows here once it needs the server)."""
    counts = {s.value: {"running": 0, "retrying": 0} for s in PIPELINE}
    try:
        client = await fe.temporal()
        runs = []
        async for run in client.list_workflows("ExecutionStatus='Running'", limit=LIVE_SAMPLE):
            runs.append(run.id)
        described = await asyncio.gather(
            *(client.get_workflow_handle(run).describe() for run in runs),
            return_exceptions=True)
    except Exception as exc:
        return {"steps": counts, "sampled_runs": 0, "steps_error": f"unavailable: {exc!r}"}
    for desc in described:
        if isinstance(desc, BaseException):
            continue
        for pending in desc.raw_description.pending_activities:
            step = counts.get(pending.activity_type.name)
            if step is not None:
                step["retrying" if pending.attempt > 1 else "running"] += 1
    return {"steps": counts, "sampled_runs": len(runs)}
