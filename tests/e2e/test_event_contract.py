"""The running stack's choreography is the declared one: the durable consumers in NATS are those
``picadaily.choreography`` names (no more, no fewer), and the frontend serves the AsyncAPI
document generated from it, as a document and as a page."""

from __future__ import annotations

import asyncio

import httpx
import nats
import pytest

from harness.stack import RunningStack
from picadaily import choreography
from picadaily.asyncapi import document

pytestmark = pytest.mark.e2e


async def _consumers(stack: RunningStack) -> set[str]:
    settings = stack.settings()
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        names = set()
        for stream in (settings.events_stream, settings.storage_stream):
            names |= {c.name for c in await js.consumers_info(stream)}
        return names
    finally:
        await nc.close()


def test_the_consumers_in_nats_are_the_declared_ones(stack: RunningStack) -> None:
    assert asyncio.run(_consumers(stack)) == choreography.durable_consumers()


def test_the_asyncapi_document_and_page_are_served_from_the_declaration(
        stack: RunningStack) -> None:
    served = httpx.get(f"{stack.url}/asyncapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == document(stack.settings())
    page = httpx.get(f"{stack.url}/asyncapi", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for reaction in choreography.REACTIONS:
        assert f"<code>{reaction.durable}</code>" in page.text
    assert "<script src=\"/static/app.js\"" in page.text  # the site's page, with its menu
