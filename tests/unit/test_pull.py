"""The continuous pull's bookkeeping with a stand-in connection (the real server's behaviour is
in tests/integration/test_pull.py): what it asks for and when it asks again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import picadaily.pull as pull
from picadaily.pull import ContinuousPull


class Msg:
    def __init__(self, data: bytes = b"{}", reply: str = "$JS.ACK.x", status: str | None = None,
                 description: str = "") -> None:
        self.data = data
        self.reply = "" if status else reply
        self.headers = {"Status": status, "Description": description} if status else None


class Connection:
    """Records the pull requests; delivers what a test hands it to the subscriber."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.deliver: Any = None

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Any) -> Any:
        self.deliver = cb

        class Sub:
            async def unsubscribe(self) -> None:
                return None

        return Sub()

    async def publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        assert subject == "$JS.API.CONSUMER.MSG.NEXT.S.d" and reply == "_INBOX.test"
        self.requests.append(json.loads(payload))


async def _until(condition: Any) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (everything runs in this loop)
            await asyncio.sleep(0.005)


async def test_an_unanswered_request_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "LOST_AFTER_S", 0.05)
    nc = Connection()
    stop = asyncio.Event()

    async def handle(msg: Any) -> None:
        return None

    running = asyncio.create_task(
        ContinuousPull(nc, "S", "d", handle, slots=4, expires_s=0.05).run(stop))
    await _until(lambda: len(nc.requests) >= 3)  # never answered: asked again, and again
    stop.set()
    await running
    assert all(r == {"batch": 4, "expires": 50_000_000} for r in nc.requests)


async def test_it_asks_for_the_free_slots_once_a_request_is_used_up() -> None:
    nc = Connection()
    stop, release = asyncio.Event(), asyncio.Event()
    handled: list[bytes] = []

    async def handle(msg: Any) -> None:
        await release.wait()
        handled.append(msg.data)

    running = asyncio.create_task(
        ContinuousPull(nc, "S", "d", handle, slots=3, expires_s=60).run(stop))
    await _until(lambda: len(nc.requests) == 1)
    for n in range(3):  # the request brings all it asked for: every slot is in use
        await nc.deliver(Msg(str(n).encode()))
    await asyncio.sleep(0.05)
    assert len(nc.requests) == 1  # nothing free: it does not ask
    release.set()
    await _until(lambda: len(nc.requests) == 2)
    assert nc.requests[1]["batch"] == 3 and sorted(handled) == [b"0", b"1", b"2"]
    stop.set()
    await running


async def test_status_messages_end_a_request_and_heartbeats_do_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "ERROR_PAUSE_S", 0.01)
    nc = Connection()
    stop = asyncio.Event()
    handled: list[Any] = []

    async def handle(msg: Any) -> None:
        handled.append(msg)

    running = asyncio.create_task(
        ContinuousPull(nc, "S", "d", handle, slots=2, expires_s=60).run(stop))
    await _until(lambda: len(nc.requests) == 1)
    await nc.deliver(Msg(status="100", description="Idle Heartbeat"))
    await asyncio.sleep(0.05)
    assert len(nc.requests) == 1
    await nc.deliver(Msg(status="408", description="Request Timeout"))
    await _until(lambda: len(nc.requests) == 2)
    await nc.deliver(Msg(status="409", description="Exceeded MaxWaiting"))
    await _until(lambda: len(nc.requests) == 3)  # after a short pause
    stop.set()
    await running
    assert handled == []  # no status message reaches a handler
