"""What the routes need, built once per app in ``create_app`` and reached through ``Depends``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from picadaily.mode import ModeSwitch
from picadaily.settings import Settings
from picadaily.storage import S3ObjectStore


@dataclass
class Frontend:
    settings: Settings
    metadata: httpx.AsyncClient
    store: S3ObjectStore
    modes: ModeSwitch
    nats: Any  # nats.aio.client.Client
    kv: Any  # the shared NATS KV bucket (idempotency keys)
    _temporal: Any = None

    async def temporal(self) -> Any:
        """A Temporal client, connected on first use (only the compare page needs one)."""
        if self._temporal is None:
            from temporalio.client import Client

            self._temporal = await Client.connect(self.settings.temporal_address,
                                                  namespace=self.settings.temporal_namespace)
        return self._temporal


def _frontend(request: Request) -> Frontend:
    fe: Frontend = request.app.state.frontend
    return fe


FrontendDep = Annotated[Frontend, Depends(_frontend)]
