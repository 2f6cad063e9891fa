"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from functions.trigger import Trigger
from picadaily.settings import Settings

from .pipeline import running_pipeline


@pytest.fixture
async def pipeline(services: Settings, temporal_client: Client) -> AsyncIterator[Trigger]:
    """Services + worker on a fresh task queue + a trigger wired to them."""
    async with running_pipeline(services, temporal_client) as trigger:
        yield trigger
