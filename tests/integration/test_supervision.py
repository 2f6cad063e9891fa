"""Supervision and the one error shape, on the real services (real NATS, real S3)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from picadaily.consumer import Delivery
from picadaily.event_runtime import event_edge_running, until_stopped_or_failed
from picadaily.events import Event
from picadaily.service_errors import read_service_error
from picadaily.settings import Settings
from services.metadata.http import create_app as metadata_app
from tests.servers import ThreadedServer


def test_healthz_answers_503_once_the_event_consumer_has_died(provisioned: Settings) -> None:
    app = metadata_app(provisioned)
    with ThreadedServer(app) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        edge = app.state.event_edge
        assert edge.task is not None
        edge.task.get_loop().call_soon_threadsafe(edge.task.cancel)
        for _ in range(100):
            resp = httpx.get(f"{server.url}/healthz")
            if resp.status_code == 503:
                break
        assert resp.status_code == 503
        assert resp.json()["problems"] == ["the event consumer was cancelled"]


async def test_a_process_without_http_exits_with_an_error_when_its_consumer_dies(
        provisioned: Settings) -> None:
    async def ignore(event: Event[Any], delivery: Delivery) -> None:
        return None

    stop = asyncio.Event()
    async with event_edge_running(provisioned, "exif", lambda edge: [
            edge.on("uploaded", ignore)]) as edge:
        assert edge is not None and edge.task is not None
        await asyncio.sleep(0.5)  # alive for a while (a broken edge fails in its first ms)
        assert not edge.task.done() and edge.problem is None
        edge.task.cancel()
        with pytest.raises(RuntimeError, match="cancelled"):
            await until_stopped_or_failed(edge, stop)


def test_every_service_error_has_one_shape(services: Settings) -> None:
    cases = [
        ("GET", f"{services.metadata_url}/pictures?cursor=garbage", None, 400, False),
        ("GET", f"{services.metadata_url}/pictures/nope", None, 404, False),
        ("POST", f"{services.vision_url}/analyse", {"picture_id": "x"}, 422, False),
        ("POST", f"{services.thumbnails_url}/thumbnails",
         {"picture_id": "x", "bucket": services.pictures_bucket, "key": "absent"}, 404, False),
        ("POST", f"{services.collage_url}/nowhere", {}, 404, False),
    ]
    for method, url, body, status, retryable in cases:
        resp = httpx.request(method, url, json=body)
        assert resp.status_code == status, (url, resp.text)
        doc = resp.json()
        assert set(doc) == {"error", "retryable"}, (url, doc)
        assert isinstance(doc["error"], str) and doc["error"][0] not in "{[", (url, doc)
        error = read_service_error(resp)
        assert error is not None and error.retryable is retryable
    assert "cursor" in httpx.get(f"{services.metadata_url}/pictures?cursor=x").json()["error"]
