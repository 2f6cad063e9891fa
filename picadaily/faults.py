"""Fault injection: make a real service fail a step on purpose, to see what a failure looks like.

Used by the tests (retry, give-up paths) and by people comparing how the two modes fail. Only
active when the service runs with ``PICADAILY_FAULT_INJECTION=true``.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast, get_args

from pydantic import BaseModel, Field

T = TypeVar("T")
# The services that take faults (``POST /admin/faults``): the lab page, `picadaily lab` and the
# scenarios address these.
FaultyService = Literal["vision", "thumbnails", "collage", "exif"]
FAULTY_SERVICES: tuple[str, ...] = get_args(FaultyService)


class InjectedFault(Exception):
    """A deliberate, retryable failure."""


class FaultPlan(BaseModel):
    step: str
    times: int = Field(default=1, ge=-1)  # how many calls are affected; -1: every call
    picture_id: str | None = None  # only this picture; None: any
    message: str = "injected fault"
    probability: float = Field(default=1.0, ge=0.0, le=1.0)  # each call is affected with this
    delay_s: float = Field(default=0.0, ge=0.0, le=120.0)  # slow: wait this long first
    fail: bool = True  # False: only slow the step down


@dataclass
class _Armed:
    plan: FaultPlan
    remaining: int


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def arm(self, plan: FaultPlan) -> None:
        with self._lock:
            self._armed.append(_Armed(plan, plan.times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def check(self, step: str, picture_id: str) -> None:
        """Called before a step runs (in a worker thread): may wait, may raise."""
        delay, failure = 0.0, None
        with self._lock:
            for armed in self._armed:
                plan = armed.plan
                if plan.step != step or plan.picture_id not in (None, picture_id):
                    continue
                if armed.remaining == 0 or self._random.random() >= plan.probability:
                    continue
                if armed.remaining > 0:
                    armed.remaining -= 1
                delay = max(delay, plan.delay_s)
                if plan.fail and failure is None:
                    failure = InjectedFault(f"{plan.message} ({step})")
        if delay:
            time.sleep(delay)
        if failure is not None:
            raise failure

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**a.plan.model_dump(), "remaining": a.remaining} for a in self._armed]


class _FaultyCore:
    """A core whose step methods first ask ``faults`` whether to fail; everything else is the
    core itself."""

    def __init__(self, core: object, faults: Faults, steps: dict[str, str]) -> None:
        self._core = core
        self._faults = faults
        self._steps = steps

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
