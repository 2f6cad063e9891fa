"""Running a service's event edge inside its process, next to the HTTP edge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import httpx

from picadaily.consumer import EventEdge, Subscription
from picadaily.nats_util import close_nats
from picadaily.settings import Settings
from picadaily.timeline import HttpTimeline, TimelineRecorder

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def event_edge_running(
    settings: Settings, service: str,
    subscriptions: Callable[[EventEdge], list[Subscription]],
) -> AsyncIterator[EventEdge | None]:
    """Consume domain events until the block exits (``event_edges`` off: do nothing)."""
    if not settings.event_edges:
        yield None
        return
    import nats

    from infra.provision import provision_streams

    nc = await nats.connect(settings.nats_url, name=f"{service}-events")
    stop = asyncio.Event()
    try:
        js = nc.jetstream()
        await provision_streams(js, settings)
        edge = EventEdge(js, settings, service, nc)
        task = asyncio.create_task(edge.run(subscriptions(edge), stop))
        log.info("%s consumes domain events", service)
        yield edge
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    finally:
        await close_nats(nc)


@contextlib.asynccontextmanager
async def event_edge_with_timeline(
    settings: Settings, service: str,
    subscriptions: Callable[[EventEdge, TimelineRecorder], list[Subscription]],
) -> AsyncIterator[EventEdge | None]:
    """``event_edge_running`` for a service whose steps record timeline entries in the metadata
    service over HTTP."""
    async with httpx.AsyncClient(base_url=settings.metadata_url, timeout=15) as metadata, \
            event_edge_running(settings, service, lambda edge: subscriptions(
                edge, HttpTimeline(metadata))) as edge:
        yield edge
