"""In-memory fakes of the NATS ports, for unit tests of the core and the edges' logic only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeJetStream:
    published: list[tuple[str, dict[str, Any], dict[str, str] | None]] = field(
        default_factory=list)
    fail: bool = False
    seen_ids: set[str] = field(default_factory=set)

    async def publish(self, subject: str, payload: bytes = b"",
                      headers: dict[str, str] | None = None) -> None:
        """Like JetStream: a message id seen before (within the window) is dropped."""
        if self.fail:
            raise TimeoutError("no JetStream")
        msg_id = (headers or {}).get("Nats-Msg-Id")
        if msg_id in self.seen_ids:
            return
        if msg_id:
            self.seen_ids.add(msg_id)
        self.published.append((subject, json.loads(payload), headers))


@dataclass
class FakeKv:
    """A NATS KV bucket: ``get`` raises KeyNotFoundError for a missing key, like the real one."""

    values: dict[str, bytes] = field(default_factory=dict)

    async def get(self, key: str) -> Any:
        from nats.js.errors import KeyNotFoundError

        if key not in self.values:
            raise KeyNotFoundError
        return type("Entry", (), {"value": self.values[key]})()

    async def put(self, key: str, value: bytes) -> None:
        self.values[key] = value
