"""Running an event edge inside its process, next to the HTTP edge (or alone: the trigger)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from picadaily.consumer import EventEdge, Subscription
from picadaily.http_client import service_client
from picadaily.internal_auth import internal_headers
from picadaily.nats_util import close_nats, connect_nats
from picadaily.settings import Settings
from picadaily.streams import provision_streams
from picadaily.timeline import HttpTimeline, TimelineRecorder

log = logging.getLogger(__name__)
STOP_GRACE_S = 10.0


@contextlib.asynccontextmanager
async def event_edge_running(
    settings: Settings, service: str,
    subscriptions: Callable[[EventEdge], Sequence[Subscription[Any]]
                            | Awaitable[Sequence[Subscription[Any]]]],
) -> AsyncIterator[EventEdge | None]:
    """Consume until the block exits (``event_edges`` off: do nothing).

    The consumer task is supervised: if it ends while the block is still open, the process log
    says why and ``edge.problem`` is set (``/healthz`` then answers 503)."""
    if not settings.event_edges:
        yield None
        return
    nc = await connect_nats(settings, f"{service}-events")
    stop = asyncio.Event()
    try:
        js = nc.jetstream()
        await provision_streams(js, settings)
        edge = EventEdge(js, settings, service, nc)
        subs = subscriptions(edge)
        if inspect.isawaitable(subs):
            subs = await subs
        task = asyncio.create_task(edge.run(subs, stop),
                                   name=f"{service}-consumer")
        task.add_done_callback(lambda t: _consumer_ended(edge, t, stop))
        edge.task = task  # keep the task referenced for as long as the edge lives
        log.info("%s consumes events", service)
        yield edge
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, STOP_GRACE_S)
    finally:
        await close_nats(nc)


def _consumer_ended(edge: EventEdge, task: asyncio.Task[None], stop: asyncio.Event) -> None:
    if stop.is_set():
        return
    if task.cancelled():
        edge.problem = "the event consumer was cancelled"
    elif task.exception() is not None:
        edge.problem = f"the event consumer died: {task.exception()!r}"
    else:
        edge.problem = "the event consumer stopped"
    log.error("%s: %s", edge.service, edge.problem, exc_info=task.exception()
              if not task.cancelled() else None)


@contextlib.asynccontextmanager
async def event_edge_with_timeline(
    settings: Settings, service: str,
    subscriptions: Callable[[EventEdge, TimelineRecorder], Sequence[Subscription[Any]]],
) -> AsyncIterator[EventEdge | None]:
    """``event_edge_running`` for a service whose steps record timeline entries in the metadata
    service over HTTP."""
    async with service_client(settings.metadata_url, timeout=15,
                              headers=internal_headers(settings.internal_token)) as metadata, \
            event_edge_running(settings, service, lambda edge: subscriptions(
                edge, HttpTimeline(metadata))) as edge:
        yield edge


async def until_stopped_or_failed(edge: EventEdge | None, stop: asyncio.Event) -> None:
    """For a process with no HTTP edge: wait for SIGTERM; raise if the consumer died first (the
    process then exits with an error, and the stack runner sees it)."""
    if edge is None or edge.task is None:
        await stop.wait()
        return
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopping, edge.task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if edge.problem:
        raise RuntimeError(edge.problem)
