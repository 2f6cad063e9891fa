"""Fault injection: make a real service fail a step on purpose, to see what a failure looks like.

Used by the tests (retry, give-up paths) and by people comparing how the two modes fail. Only
active when the service runs with ``PICADAILY_FAULT_INJECTION=true``.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import BaseModel

T = TypeVar("T")


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


class _FaultyCore:
    """A core whose step methods first ask ``faults`` whether to fail; everything else is the
    core itself."""

    def __init__(self, core: object, faults: Faults, steps: dict[str, str]) -> None:
        self._core = core
        self._faults = faults
        self._steps = steps
        self.faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._core, name)
        step = self._steps.get(name)
        if step is None:
            return attr

        @functools.wraps(attr)
        def checked(*args: Any, **kwargs: Any) -> Any:
            picture_id = kwargs.get("picture_id", args[0] if args else None)
            self._faults.check(step, picture_id if isinstance(picture_id, str) else "")
            return attr(*args, **kwargs)

        return checked


def with_faults(core: T, faults: Faults, steps: dict[str, str]) -> T:
    """``core`` as seen by its edges when fault injection is on: each method named in ``steps``
    (method name -> step) may fail on purpose, as armed through ``POST /admin/faults``. The
    cores themselves know nothing of faults."""
    return cast(T, _FaultyCore(core, faults, steps))
