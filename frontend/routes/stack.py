"""``/api/stack``: what the stack runner's supervisor says about each process, so every page can
say when a part is down, restarting or marked failed (not only the lab's table)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter

from picadaily.control_api import PROCESSES

from ..deps import FrontendDep
from ..errors import error_responses

router = APIRouter(prefix="/api/stack", tags=["stack"],
                   responses=error_responses(400, 503))
TROUBLE = ("restarting", "failed", "stopped", "stopping", "starting")


@router.get("")
async def stack_state(fe: FrontendDep) -> dict[str, Any]:
    """``supervised`` is false when no stack runner answers (compose, a bare process): then
    only the container engine knows."""
    assert fe.control is not None
    try:
        resp = await fe.control.get(PROCESSES)
        resp.raise_for_status()
        processes = resp.json()
    except (httpx.HTTPError, ValueError):
        return {"supervised": False, "processes": [], "trouble": []}
    trouble = [{"name": p["name"], "state": p["state"], "restarts": p["restarts"],
                "last_exit": p["last_exit"]}
               for p in processes if p["state"] in TROUBLE]
    return {"supervised": True,
            "processes": [{"name": p["name"], "state": p["state"], "restarts": p["restarts"]}
                          for p in processes],
            "trouble": trouble}
