"""The stack runner's control endpoint, once (served by ``cli.lab_control``, called by the
frontend's lab and stack pages and the lab's scenarios): its paths, its actions and what it says
of a process. Every request carries the stack's internal token (``picadaily.internal_auth``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

PROCESSES = "/processes"  # GET: list[ProcessState]
Action = Literal["stop", "start", "kill"]
ACTIONS: tuple[Action, ...] = ("stop", "start", "kill")


def action_path(name: str, action: Action) -> str:
    """POST: the process afterwards (``ProcessState``), or 403 (the lab is off), 404, 409."""
    return f"{PROCESSES}/{name}/{action}"


class ProcessState(BaseModel):
    name: str
    state: str  # running, starting, restarting, stopping, stopped, failed
    pid: int | None
    restarts: int
    last_exit: int | None
    port: int | None
