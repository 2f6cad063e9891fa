"""Fault injection: make a real service fail a step on purpose, to see what a failure looks like.

Used by the tests (retry, give-up paths) and by people comparing how the two modes fail. Only
active when the service runs with ``PICADAILY_FAULT_INJECTION=true``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import BaseModel


class InjectedFault(Exception):
    """A deliberate, retryable failure."""


class FaultPlan(BaseModel):
    step: str
    times: int = 1  # how many calls fail; -1: every call
    picture_id: str | None = None  # only this picture; None: any
    message: str = "injected fault"


@dataclass
class _Armed:
    plan: FaultPlan
    remaining: int


class Faults:
    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def arm(self, plan: FaultPlan) -> None:
        with self._lock:
            self._armed.append(_Armed(plan, plan.times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def check(self, step: str, picture_id: str) -> None:
        with self._lock:
            for armed in self._armed:
                plan = armed.plan
                if plan.step != step or plan.picture_id not in (None, picture_id):
                    continue
                if armed.remaining == 0:
                    continue
                if armed.remaining > 0:
                    armed.remaining -= 1
                raise InjectedFault(f"{plan.message} ({step})")
