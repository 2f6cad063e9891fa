"""The frontend's cap on the bytes of all request bodies being received at once
(``frontend.body_limit``): a request past it waits its turn, then is let in; one that waits too
long is told to try again; one alone is never held back, whatever its size."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import frontend.body_limit as body_limit
from frontend.body_limit import BodyLimit

MB = 1024 * 1024


class App:
    """Reads its whole body, then waits until the test lets it answer."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.inside.append(scope["path"])
        while (await receive()).get("more_body"):
            pass
        await self.release.wait()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def request(path: str, size: int) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path,
            "headers": [(b"content-length", str(size).encode())]}


async def call(limit: BodyLimit, path: str, size: int) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * min(size, 1024), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await limit(request(path, size), receive, send)
    return int(sent[0]["status"])


async def test_bodies_past_the_bound_wait_their_turn() -> None:
    app = App()
    limit = BodyLimit(app, limit=200 * MB, in_flight=100 * MB)
    first = asyncio.create_task(call(limit, "/a", 60 * MB))
    second = asyncio.create_task(call(limit, "/b", 60 * MB))
    small = asyncio.create_task(call(limit, "/c", 30 * MB))  # fits beside the first
    await asyncio.sleep(0.05)
    assert app.inside == ["/a", "/c"] and limit.receiving == 90 * MB
    app.release.set()
    assert await asyncio.gather(first, second, small) == [202, 202, 202]
    assert app.inside == ["/a", "/c", "/b"] and limit.receiving == 0


async def test_a_body_larger_than_the_bound_alone_is_let_in() -> None:
    app = App()
    app.release.set()
    limit = BodyLimit(app, limit=200 * MB, in_flight=100 * MB)
    assert await call(limit, "/huge", 150 * MB) == 202


async def test_a_request_that_waits_too_long_is_told_to_try_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_limit, "IN_FLIGHT_WAIT_S", 0.1)
    app = App()
    limit = BodyLimit(app, limit=200 * MB, in_flight=100 * MB)
    holding = asyncio.create_task(call(limit, "/a", 90 * MB))
    await asyncio.sleep(0.02)
    assert await call(limit, "/b", 90 * MB) == 503
    app.release.set()
    assert await holding == 202
