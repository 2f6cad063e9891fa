"""A whole pipeline for integration tests: services with their HTTP and event edges, a worker on
a fresh task queue, and the trigger, all against the real servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import nats
from temporalio.client import Client

from functions.trigger import Trigger
from picadaily.events import EventBus
from picadaily.mode import ModeSwitch
from picadaily.nats_util import close_nats
from picadaily.settings import Settings
from workflow.activities import ServiceClients
from workflow.worker import build_worker


@contextlib.asynccontextmanager
async def running_pipeline(settings: Settings, temporal: Client) -> AsyncIterator[Trigger]:
    clients = ServiceClients(settings)
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        async with build_worker(temporal, settings, clients), \
                httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
            yield Trigger(settings, temporal, await ModeSwitch.open(js, settings), metadata,
                          EventBus(js, settings, "picadaily/trigger"))
    finally:
        await clients.aclose()
        await close_nats(nc)
