"""What the routes need, built once per app in ``create_app`` and reached through ``Depends``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Depends, Request

from picadaily.imaging import ImageInfo, inspect
from picadaily.mode import ModeSwitch
from picadaily.settings import Settings
from picadaily.storage import S3ObjectStore

if TYPE_CHECKING:
    from .admins import Admins
    from .lab_scenarios import ScenarioRunner


@dataclass
class Frontend:
    settings: Settings
    metadata: httpx.AsyncClient
    store: S3ObjectStore
    modes: ModeSwitch
    nats: Any  # nats.aio.client.Client
    kv: Any  # the shared NATS KV bucket (idempotency keys)
    admins: Admins = None  # type: ignore[assignment]  # set in create_app
    traces: httpx.AsyncClient | None = None  # the trace store
    control: httpx.AsyncClient | None = None  # the stack runner's control endpoint
    scenarios: ScenarioRunner | None = None  # the failure lab's (only when the lab is on)
    _temporal: Any = None
    # Image headers are inspected in threads, a few at a time: a crafted file (millions of PNG
    # chunks) costs a thread its time, never the event loop that serves pages and /healthz.
    inspecting: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    live_connections: int = 0
    live_by_client: dict[str, int] = field(default_factory=dict)

    async def temporal(self) -> Any:
        """A Temporal client, connected on first use (the compare page, review decisions)."""
        if self._temporal is None:
            from picadaily.temporal_client import connect_temporal

            self._temporal = await connect_temporal(self.settings)
        return self._temporal


async def inspect_image(fe: Frontend, data: bytes) -> ImageInfo:
    """``imaging.inspect`` off the event loop, bounded (raises ``ImageRejected``)."""
    async with fe.inspecting:
        return await asyncio.to_thread(inspect, data, max_pixels=fe.settings.max_pixels)


def _frontend(request: Request) -> Frontend:
    fe: Frontend = request.app.state.frontend
    return fe


FrontendDep = Annotated[Frontend, Depends(_frontend)]
