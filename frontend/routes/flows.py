"""``/api/flows``: each style's flow as the code declares it (the workflow's step order, the
choreography's reactions) and the lines each style needs to state its flow and its handlers,
counted from the files at each request (not typed in anywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

import picadaily
from picadaily import choreography
from picadaily.steps import PIPELINE

from ..errors import error_responses

router = APIRouter(prefix="/api", tags=["flows"], responses=error_responses(503))
# The installed packages sit side by side (a checkout or site-packages): files found from here.
ROOT = Path(picadaily.__file__).resolve().parent.parent
# What each style needs to state its flow, and to run each step's work (its "handlers").
FLOW_FILES = {
    "orchestration": (["workflow/process_picture.py"], ["workflow/activities.py"]),
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
        "orchestration": {"steps": [s.value for s in PIPELINE],
                          "at_once": [["analyse_image", "extract_exif"]]},
        "choreography": {"reactions": [
            {"consumer": r.durable, "service": r.service, "on": list(r.types),
             "step": r.step.value, "publishes": [m.TYPE for m in r.publishes], "does": r.does}
            for r in choreography.REACTIONS]},
        "code": code_counts(),
    }
