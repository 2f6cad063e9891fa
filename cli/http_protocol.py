"""uvicorn's HTTP protocol with the bounds a reverse proxy would give: a request's headers must
arrive within ``header_timeout_s`` of the connection (or of the previous response), its body may
pause at most ``body_idle_timeout_s`` between chunks, and a process holds at most
``max_connections`` connections (more are answered 503 at once and closed).

uvicorn has none of the first two (its keep-alive timer is cancelled by the first byte of the
next request, so a client sending a header line every 2 s kept a connection for as long as it
liked), and ``limit_concurrency`` answers 503 only once a request is read: 20,000 idle
connections that sent a few header bytes took the frontend to its file-descriptor limit.
Compose and Kubernetes put a real proxy in front as well; the local stack has only this.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: 58\r\n\r\n"
        b'{"error": "too many connections at once: try again soon"}\n')


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_connections = 1000
    header_timeout_s = 10.0
    body_idle_timeout_s = 15.0

    _deadline: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.server_state.connections) >= self.max_connections:
            self._refused = True
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._arm(self.body_idle_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm(self.body_idle_timeout_s)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()  # the app has the request now: its own time is its own
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.header_timeout_s)  # the next request's headers

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(max_connections: int, header_timeout_s: float,
                     body_idle_timeout_s: float) -> type[Any]:
    """The protocol class for one server, with these bounds."""
    return type("GuardedHttp", (GuardedHttpToolsProtocol,), {
        "max_connections": max_connections, "header_timeout_s": header_timeout_s,
        "body_idle_timeout_s": body_idle_timeout_s})
