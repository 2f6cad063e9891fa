"""What the live pages hear: a picture's non-final changes at most once per hold, the latest;
a final status, a wait for review and a deletion at once, never followed by a stale one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from services.metadata.http import change_publisher


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._told = asyncio.Event()

    async def publish(self, subject: str, body: bytes) -> None:
        doc = json.loads(body)
        self.sent.append((doc["id"], doc["status"]))
        self._told.set()

    async def until(self, check: Callable[[], bool]) -> None:
        """Until ``check`` holds, looked at after each telling (a deadline of 5 s)."""
        async with asyncio.timeout(5):
            while not check():
                self._told.clear()
                await self._told.wait()


async def test_changes_of_a_picture_are_held_and_finals_go_at_once() -> None:
    nc = Recorder()
    # A hold far longer than the test: nothing held can be told meanwhile, however slow the
    # machine; what goes at once must go without it.
    publish = change_publisher(nc, "changes", hold_s=60)
    for _ in range(5):
        publish("a", "processing")  # a burst of writes about one picture
    publish("b", "processing")
    publish("c", "processing")
    publish("c", "done")  # final: at once, and c's held change is dropped
    publish("d", "awaiting_review")
    publish("e", "deleted")
    await nc.until(lambda: len(nc.sent) == 3)
    assert nc.sent == [("c", "done"), ("d", "awaiting_review"), ("e", "deleted")]


async def test_a_held_change_is_told_once_after_the_hold_the_latest() -> None:
    nc = Recorder()
    publish = change_publisher(nc, "changes", hold_s=0.05)
    publish("a", "processing")
    publish("a", "awaiting_review")  # at once: a's held change dropped
    publish("b", "processing")
    publish("b", "processing")
    await nc.until(lambda: ("b", "processing") in nc.sent)
    await asyncio.sleep(0.2)  # four holds more: long enough for a second telling to show
    assert nc.sent == [("a", "awaiting_review"), ("b", "processing")]
