"""``/api/events``: server-sent events when a picture changes (pushed by the metadata service
over NATS; no polling)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from picadaily.events import changes_subject

from ..deps import FrontendDep
from ..errors import http_error

router = APIRouter(prefix="/api", tags=["live"])
HEARTBEAT_S = 15.0


@router.get("/events")
async def picture_events(fe: FrontendDep) -> StreamingResponse:
    if fe.live_connections >= fe.settings.max_live_connections:
        raise http_error(503, f"too many live connections ({fe.live_connections}); "
                              "try again later")
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)

    async def on_change(msg: object) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a stuck client must not grow memory
            queue.put_nowait(msg.data)  # type: ignore[attr-defined]

    sub = await fe.nats.subscribe(changes_subject(fe.settings), cb=on_change)

    fe.live_connections += 1

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield b": still here\n\n"
                    continue
                yield b"event: picture\ndata: " + data + b"\n\n"
        finally:
            fe.live_connections -= 1
            await sub.unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
