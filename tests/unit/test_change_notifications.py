"""What the live pages hear: a picture's non-final changes at most once per hold, the latest;
a final status, a wait for review and a deletion at once, never followed by a stale one."""

from __future__ import annotations

import asyncio
import json

from services.metadata.http import change_publisher


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def publish(self, subject: str, body: bytes) -> None:
        doc = json.loads(body)
        self.sent.append((doc["id"], doc["status"]))


async def test_changes_of_a_picture_are_held_and_finals_go_at_once() -> None:
    nc = Recorder()
    publish = change_publisher(nc, "changes", hold_s=0.05)
    for _ in range(5):
        publish("a", "processing")  # a burst of writes about one picture
    publish("b", "processing")
    publish("c", "processing")
    publish("c", "done")  # final: at once, and c's held change is dropped
    await asyncio.sleep(0.01)
    assert nc.sent == [("c", "done")]
    await asyncio.sleep(0.1)
    assert sorted(nc.sent) == [("a", "processing"), ("b", "processing"), ("c", "done")]
    publish("a", "awaiting_review")
    publish("b", "deleted")
    await asyncio.sleep(0.01)
    assert nc.sent[-2:] == [("a", "awaiting_review"), ("b", "deleted")]
