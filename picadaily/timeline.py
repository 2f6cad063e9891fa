"""Recording a step's timeline entry, the same way in both modes: the activities (orchestration)
and the event edges' runtime (choreography, ``picadaily.consumer``) both time the work with
``timed``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import httpx

from picadaily.contracts import TimelineEntry, utcnow
from picadaily.settings import Mode

log = logging.getLogger(__name__)
T = TypeVar("T")


class TimelineRecorder(Protocol):
    async def record(self, picture_id: str, entry: TimelineEntry) -> None: ...


class HttpTimeline:
    """Records through the metadata service's HTTP edge."""

    def __init__(self, metadata: httpx.AsyncClient) -> None:
        self._metadata = metadata

    async def record(self, picture_id: str, entry: TimelineEntry) -> None:
        await self.record_many(picture_id, [entry])

    async def record_many(self, picture_id: str, entries: list[TimelineEntry]) -> None:
        """One request for them all."""
        try:
            resp = await self._metadata.post(f"/pictures/{picture_id}/timeline",
                                             json=[e.model_dump(mode="json") for e in entries])
            resp.raise_for_status()
        except httpx.HTTPError:
            log.exception("could not record %s of %s", [e.step for e in entries], picture_id)


class CarriedTimeline:
    """A recorder for one handled event (choreography): entries of work that succeeded wait to
    travel with the event the handler publishes (``entries``: a ``StepReport``'s timeline, which
    the metadata service records when it reads the event, no request of their own — measured
    with bench.requests: 5 per choreographed picture before); an error has no event to travel
    with and is recorded at once, through ``fallback``."""

    def __init__(self, fallback: TimelineRecorder) -> None:
        self._fallback = fallback
        self.entries: list[TimelineEntry] = []

    async def record(self, picture_id: str, entry: TimelineEntry) -> None:
        if entry.outcome == "ok":
            self.entries.append(entry)
        else:
            await self._fallback.record(picture_id, entry)


def error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc)
    return str(message) or type(exc).__name__


async def timed(recorder: TimelineRecorder, step: str, picture_id: str, mode: Mode | None,
                attempt: int, work: Callable[[], Awaitable[T]],
                version: int | None = None) -> T:
    """Run ``work`` and record one timeline entry for it, whether it succeeds or raises."""
    started = utcnow()
    try:
        result = await work()
    except Exception as exc:
        await recorder.record(picture_id, TimelineEntry(
            step=step, started=started, ended=utcnow(), outcome="error", attempt=attempt,
            error=error_text(exc), mode=mode, version=version))
        raise
    await recorder.record(picture_id, TimelineEntry(
        step=step, started=started, ended=utcnow(), outcome="ok", attempt=attempt, mode=mode,
        version=version))
    return result
