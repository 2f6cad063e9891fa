"""A cap on the size of a whole request body, enforced before anything is parsed or written:
413 with the reason, whether the client announced the length or streams it chunked; and a cap on
the bytes of all bodies being received at once (``in_flight``): a request waits its turn (up to
``IN_FLIGHT_WAIT_S``, then 503 "try again") rather than every request being read at the same
time (four requests of 48 x 4 MB of junk each took the frontend from 460 to 1,294 MB)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

IN_FLIGHT_WAIT_S = 30.0

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: Any, limit: int, in_flight: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = in_flight or limit
        self.receiving = 0  # the bytes of the bodies let in and not yet answered
        self._turn: asyncio.Condition | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        size = min(int(declared) if declared is not None and declared.isdigit()
                   else self.limit, self.in_flight)
        async with self._budget(size) as admitted:
            if not admitted:
                await self._busy(send)
                return
            await self._limited(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _budget(self, size: int) -> AsyncIterator[bool]:
        if self._turn is None:
            self._turn = asyncio.Condition()
        turn = self._turn
        async with turn:
            try:
                await asyncio.wait_for(turn.wait_for(
                    lambda: self.receiving == 0 or self.receiving + size <= self.in_flight),
                    IN_FLIGHT_WAIT_S)
            except TimeoutError:
                yield False
                return
            self.receiving += size
        try:
            yield True
        finally:
            async with turn:
                self.receiving -= size
                turn.notify_all()

    async def _busy(self, send: Any) -> None:
        body = json.dumps({"error": "the server is receiving other uploads: try again in a "
                                    "moment"}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", b"5"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def _limited(self, scope: Scope, receive: Any, send: Any) -> None:
        seen = 0
        started = exceeded = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            # Whatever the app answers once the body ran over (FastAPI turns a failure while
            # parsing into a 400), the client gets the 413 with its reason.
            nonlocal started
            if exceeded:
                if not started:
                    started = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        mb = self.limit / 2**20
        body = json.dumps({"error": f"the request is too large (the limit is {mb:.0f} MB "
                                    "for a whole upload)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
