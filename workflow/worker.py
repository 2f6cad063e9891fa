"""The worker: runs ``ProcessPicture`` and its activities on the pictures task queue."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from picadaily.runtime import announce_ready
from picadaily.settings import Settings
from picadaily.temporal_client import connect_temporal
from picadaily.timeline import HttpTimeline

from .activities import PictureActivities, ServiceClients
from .held_timeline import HeldTimeline
from .process_picture import ProcessPicture
from .timeline_interceptor import TimelineInterceptor

log = logging.getLogger(__name__)


def build_worker(client: Client, settings: Settings, clients: ServiceClients,
                 task_queue: str | None = None) -> Worker:
    timeline = HeldTimeline(HttpTimeline(clients.metadata))
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=[ProcessPicture],
        activities=PictureActivities(clients, timeline).all(),
        # the books: each step's timeline entry, recorded around its activity
        interceptors=[TimelineInterceptor(timeline)],
        max_concurrent_activities=32,
    )


async def main(settings: Settings, stop: asyncio.Event) -> None:
    # The tracing interceptor (when tracing is on) also serves the workers of this client.
    client = await connect_temporal(settings, traced=True)
    clients = ServiceClients(settings)
    try:
        worker = build_worker(client, settings, clients)
        async with worker:
            announce_ready(f"worker polling task queue {settings.temporal_task_queue}")
            await stop.wait()
    finally:
        await clients.aclose()
