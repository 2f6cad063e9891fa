"""Pulling from a durable JetStream consumer with one pull request kept open (the "consume"
pattern of the newer NATS clients), instead of a ``fetch`` per batch.

``fetch`` asks twice for every batch (a no-wait probe, answered "no messages" when the consumer
is idle, then a waiting request) and its caller handles the whole batch before asking again: in
the pipeline messages come one at a time, so a delivery cost two requests, a status message and
the timers of a fetch on top of the message and its ack. Here a request for as many messages as
there are free handler slots stays open for ``expires_s``; each message is handled as soon as it
arrives, and the next request goes out when the open one has brought all it asked for, expired,
or was refused. Idle, a consumer sends one request every ``expires_s`` (the server answers 408
when it runs out).

A request can be lost without an answer (the server restarted, the connection dropped): it is
replaced as soon as the connection is back (on a connection of ``connect_nats``), and in any case
once it has not ended ``expires_s`` + ``LOST_AFTER_S`` after it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from picadaily.nats_util import when_reconnected

log = logging.getLogger(__name__)
# The stack's JetStream has no domain: its API lives under the default prefix.
API_PREFIX = "$JS.API"
EXPIRES_S = 5.0
LOST_AFTER_S = 2.0
ERROR_PAUSE_S = 1.0
HEARTBEAT, CONFLICT = "100", "409"


def status_of(msg: Any) -> str | None:
    """The status of a JetStream status message (404, 408, 409, 100), None for a message."""
    headers = getattr(msg, "headers", None)
    if not headers or getattr(msg, "reply", None):  # a stream's message has its ack subject
        return None
    status = headers.get("Status")
    return str(status) if status else None


class ContinuousPull:
    """Hands every message of ``stream``/``durable`` to ``handle`` (which must not raise), with
    at most ``slots`` of them in hand at once."""

    def __init__(self, nc: Any, stream: str, durable: str,
                 handle: Callable[[Any], Coroutine[Any, Any, None]], *, slots: int,
                 expires_s: float = EXPIRES_S) -> None:
        self._nc = nc
        self._next = f"{API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._durable = durable
        self._handle = handle
        self._slots = slots
        self._expires_s = expires_s
        self._in_hand: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._request_ended = asyncio.Event()
        self._still_coming = 0  # messages the open request may still bring
        self._refused = False

    async def run(self, stop: asyncio.Event) -> None:
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox, cb=self._on_message)
        stopping = asyncio.ensure_future(stop.wait())
        forget = when_reconnected(self._nc, self._request_ended.set)  # ask again at once
        try:
            while not stop.is_set():
                free = self._slots - len(self._in_hand)
                if free <= 0:
                    self._slot_freed.clear()
                    await _first(stopping, self._slot_freed.wait())
                    continue
                if not await self._request(inbox, free):
                    await _first(stopping, asyncio.sleep(ERROR_PAUSE_S))
                    continue
                ended = await _first(stopping, self._request_ended.wait(),
                                     timeout=self._expires_s + LOST_AFTER_S)
                if not ended and not stop.is_set():
                    log.info("%s: a pull request went unanswered; asking again", self._durable)
                if self._refused:  # 409: the server turned the request down; do not hammer it
                    await _first(stopping, asyncio.sleep(ERROR_PAUSE_S))
        finally:
            forget()
            stopping.cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            # Messages in hand are settled before the consumer ends (each handler acks, naks or
            # terminates its own); messages a still-open request brings later are redelivered
            # after the ack wait.
            if self._in_hand:
                await asyncio.wait(set(self._in_hand))

    async def _request(self, inbox: str, batch: int) -> bool:
        self._still_coming = batch
        self._refused = False
        self._request_ended.clear()
        body = {"batch": batch, "expires": int(self._expires_s * 1e9)}
        try:
            await self._nc.publish(self._next, json.dumps(body).encode(), reply=inbox)
            return True
        except Exception as exc:  # NATS reconnecting, a server restart: wait and go on
            log.warning("%s: asking for messages failed (%r); trying again", self._durable, exc)
            return False

    async def _on_message(self, msg: Any) -> None:
        status = status_of(msg)
        if status is None:
            task: asyncio.Task[None] = asyncio.create_task(self._handle(msg))
            self._in_hand.add(task)
            task.add_done_callback(self._settled)
            self._still_coming -= 1
            if self._still_coming <= 0:
                self._request_ended.set()
        elif status != HEARTBEAT:
            # 408: the request expired; 409: refused or cut short (a leader change, the
            # consumer deleted or changed); either way the next request goes out.
            if status == CONFLICT:
                self._refused = True
                log.info("%s: pull request ended: %s %s", self._durable, status,
                         msg.headers.get("Description", ""))
            self._request_ended.set()

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._in_hand.discard(task)
        self._slot_freed.set()


async def _first(stopping: asyncio.Future[Any], waiting: Awaitable[Any],
                 timeout: float | None = None) -> bool:  # noqa: ASYNC109 (several waits race)
    """Wait for ``waiting`` (or the stop, or the timeout); True if ``waiting`` finished."""
    task = asyncio.ensure_future(waiting)
    try:
        done, _ = await asyncio.wait({task, stopping}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        return task in done
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
