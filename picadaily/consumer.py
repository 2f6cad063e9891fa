"""The event edge's runtime: JetStream durable pull consumers with explicit ack, bounded
redelivery with backoff, and a dead-letter stream.

A handler that raises a not-retryable error (the image can never work, the object is gone) fails
the picture at once. Any other error is redelivered after ``event_backoff_s``; after
``event_max_deliver`` deliveries the message goes to the dead letters (where a person can see and
redrive it) and the picture is failed with the reason meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from picadaily.contracts import utcnow
from picadaily.events import (
    PICTURE_DELETED,
    PICTURE_FAILED,
    Event,
    EventBus,
    MalformedEvent,
    parse_event,
    subject,
)
from picadaily.imaging import ImageRejected
from picadaily.settings import Settings
from picadaily.storage import ObjectMissing
from picadaily.timeline import error_text

log = logging.getLogger(__name__)
Handler = Callable[[Event, int], Awaitable[None]]
NOT_RETRYABLE: tuple[type[Exception], ...] = (ImageRejected, ObjectMissing)
BATCH = 8
CLEAN_UP_EVENTS = frozenset({PICTURE_FAILED, PICTURE_DELETED})


def dead_letter_subject(settings: Settings, consumer: str) -> str:
    return f"{settings.event_prefix}_dead.{consumer}"


@dataclass(frozen=True)
class Subscription:
    name: str  # the durable consumer is "<service>-<name>"
    types: tuple[str, ...]
    handler: Handler
    step: str  # the step a failure is reported against


class EventEdge:
    def __init__(self, js: Any, settings: Settings, service: str, nc: Any = None) -> None:
        self.nc = nc
        self.js = js
        self.settings = settings
        self.service = service
        self.bus = EventBus(js, settings, f"picadaily/{service}")

    async def run(self, subscriptions: list[Subscription], stop: asyncio.Event) -> None:
        subs = [await self._subscribe(s) for s in subscriptions]
        try:
            await asyncio.gather(*(self._loop(s, sub, stop)
                                   for s, sub in zip(subscriptions, subs, strict=True)))
        finally:
            for sub in subs:
                await sub.unsubscribe()

    async def _subscribe(self, s: Subscription) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        durable = f"{self.service}-{s.name}"
        config = ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=60,
            # One more than ours: we dead-letter on the last delivery ourselves.
            max_deliver=self.settings.event_max_deliver + 1,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=[subject(self.settings, t) for t in s.types],
            max_ack_pending=256,
        )
        # Creates the durable, or updates an existing one in place (the server's create-or-update).
        await self.js.add_consumer(self.settings.events_stream, config)
        return await self.js.pull_subscribe_bind(durable=durable,
                                                 stream=self.settings.events_stream)

    async def _loop(self, s: Subscription, sub: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                messages = await sub.fetch(BATCH, timeout=1)
            except TimeoutError:
                continue
            await asyncio.gather(*(self._handle(s, m) for m in messages))

    async def _handle(self, s: Subscription, msg: Any) -> None:
        attempt = msg.metadata.num_delivered or 1
        try:
            event = parse_event(msg.data, self.settings.event_prefix)
        except MalformedEvent as exc:
            log.error("dropping a malformed event on %s: %s", msg.subject, exc)
            await msg.term()
            return
        try:
            await s.handler(event, attempt)
        except NOT_RETRYABLE as exc:
            log.warning("%s of %s cannot succeed: %s", s.step, event.picture_id, error_text(exc))
            # the same words as the workflow's: "<step> failed: <reason>"
            await self.fail_picture(event, s.step, f"{s.step} failed: {error_text(exc)}")
            await msg.ack()
        except Exception as exc:
            if attempt >= self.settings.event_max_deliver:
                log.error("%s of %s failed %d times; dead-lettered: %s", s.step,
                          event.picture_id, attempt, error_text(exc))
                await self.dead_letter(s, msg, event, exc, attempt)
                await self.fail_picture(
                    event, s.step, f"{s.step} failed after {attempt} attempts: {error_text(exc)}")
                await msg.ack()
            else:
                backoff = self.settings.event_backoff_s
                delay = backoff[min(attempt - 1, len(backoff) - 1)] if backoff else 0
                log.warning("%s of %s failed (attempt %d), retrying in %.1f s: %s", s.step,
                            event.picture_id, attempt, delay, error_text(exc))
                await msg.nak(delay=delay)
        else:
            await msg.ack()

    async def fail_picture(self, event: Event, step: str, reason: str) -> None:
        if event.type in CLEAN_UP_EVENTS:
            return  # cleaning up after a failure or a deletion must not fail the picture again
        await self.bus.publish(event.follow(PICTURE_FAILED, self.bus.source,
                                            {"step": step, "reason": reason}),
                               dedupe_key=f"{event.picture_id}:failed:{event.id}")

    async def dead_letter(self, s: Subscription, msg: Any, event: Event, exc: Exception,
                          attempts: int) -> None:
        consumer = f"{self.service}-{s.name}"
        letter = {
            "consumer": consumer, "subject": msg.subject, "picture_id": event.picture_id,
            "step": s.step, "error": error_text(exc), "deliveries": attempts,
            "failed_at": utcnow().isoformat(), "event": json.loads(msg.data),
        }
        await self.js.publish(dead_letter_subject(self.settings, consumer),
                              json.dumps(letter).encode())
