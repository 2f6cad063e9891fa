"""``/api/events``: server-sent events when a picture changes (pushed by the metadata service
over NATS; no polling)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from picadaily.events import changes_subject
from picadaily.ids import is_valid_picture_id
from picadaily.steps import Status

from ..deps import FrontendDep
from ..errors import error_responses, http_error

router = APIRouter(prefix="/api", tags=["live"],
                   responses=error_responses(400, 429, 503))
HEARTBEAT_S = 15.0
MAX_LIVE_PER_CLIENT = 20  # one client (address) cannot take every stream


def change_event(data: bytes) -> bytes | None:
    """The SSE data line for one change notice: a picture id the project issues and a status,
    written again as one line of JSON; anything else (a message somebody else published on the
    subject, a line break meant to start an event of its own) is dropped."""
    try:
        notice = json.loads(data)
        picture_id, status = notice["id"], Status(notice["status"])
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(picture_id, str) or not is_valid_picture_id(picture_id):
        return None
    return json.dumps({"id": picture_id, "status": status.value}).encode()


@router.get("/events")
async def picture_events(fe: FrontendDep, request: Request) -> StreamingResponse:
    if fe.live_connections >= fe.settings.max_live_connections:
        raise http_error(503, f"too many live connections ({fe.live_connections}); "
                              "try again later")
    client = request.client.host if request.client else "unknown"
    if fe.live_by_client.get(client, 0) >= MAX_LIVE_PER_CLIENT:
        raise http_error(429, f"this client has {MAX_LIVE_PER_CLIENT} live connections open "
                              "already: one per page is enough")
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)

    async def on_change(msg: object) -> None:
        line = change_event(msg.data)  # type: ignore[attr-defined]
        if line is not None:
            with contextlib.suppress(asyncio.QueueFull):  # a stuck client must not grow memory
                queue.put_nowait(line)

    sub = await fe.nats.subscribe(changes_subject(fe.settings), cb=on_change)

    fe.live_connections += 1
    fe.live_by_client[client] = fe.live_by_client.get(client, 0) + 1

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
            fe.live_by_client[client] -= 1
            if not fe.live_by_client[client]:
                del fe.live_by_client[client]  # (the table holds open connections only)
            await sub.unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
