"""The one consumer runtime: JetStream durable pull consumers with explicit ack, bounded
redelivery with backoff, a dead-letter stream, and supervision.

Every process that consumes (the services' event edges and the trigger) runs on this code.

- A handler that raises a not-retryable error (the image can never work, the object is gone)
  fails the picture at once.
- Any other error is redelivered after the subscription's backoff; on its last delivery the
  message goes to the dead letters (where a person can see and redrive it) and the picture is
  failed with the reason meanwhile.
- A payload that does not even parse is terminated and dead-lettered at once.
- Nothing that goes wrong with one message (its handler, its ack, nak or term, publishing
  ``picture.failed`` or the dead letter) can end the loop: it is logged and the message is left to
  be redelivered. If a consumer loop ends all the same, ``EventEdge.problem`` says so, which
  makes ``/healthz`` answer 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.trace import SpanKind, StatusCode

from picadaily import choreography
from picadaily.contracts import TimelineEntry, utcnow
from picadaily.event_data import EventData, PictureFailed, StepReport
from picadaily.events import (
    Event,
    EventBus,
    MalformedEvent,
    new_traceparent,
    parse_event,
    subject,
)
from picadaily.imaging import ImageRejected
from picadaily.pull import ContinuousPull
from picadaily.settings import Mode, Settings
from picadaily.storage import ObjectMissing
from picadaily.streams import dead_letter_subject, redrive_subject
from picadaily.timeline import CarriedTimeline, TimelineRecorder, error_text, timed
from picadaily.tracing import PICTURE_ATTRIBUTE, extracted, tracer

log = logging.getLogger(__name__)
NOT_RETRYABLE: tuple[type[Exception], ...] = (ImageRejected, ObjectMissing)
# Messages one consumer of one process handles at once.
BATCH = 8
# How long a delivered message may go unacknowledged before the server hands it out again. Short,
# because a consumer killed while it held messages delays them by this much (measured: 60 s made
# choreography's last picture final 63 s after a kill -9 of vision, orchestration's after 8 s);
# live handlers keep theirs by reporting progress every ACK_WAIT_S / 3.
ACK_WAIT_S = 6.0


class Handled(Protocol):
    """What the runtime needs of a parsed message to report a failure."""

    @property
    def picture_id(self) -> str: ...
    @property
    def mode(self) -> Mode | None: ...
    @property
    def version(self) -> int | None: ...
    @property
    def traceparent(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def reports_failure(self) -> bool: ...


M = TypeVar("M", bound=Handled)
D = TypeVar("D", bound=EventData)
T = TypeVar("T")


class Delivery:
    """What a handler gets beside its event: the delivery's attempt, and ``also`` for a further
    step it does (``Reaction.also``: vision checks safety after analysing)."""

    def __init__(self, event: Event[Any], attempt: int, carried: CarriedTimeline) -> None:
        self.event, self.attempt, self._carried = event, attempt, carried

    async def also(self, step: str, work: Callable[[], Awaitable[T]]) -> T:
        e = self.event
        return await timed(self._carried, step, e.picture_id, e.mode, self.attempt, work,
                           e.version)


# A reaction's handler: the core's work on one event; the next event's data, or None.
Handler = Callable[[Event[D], Delivery], Awaitable[EventData | None]]


class _Unrecorded:
    async def record(self, picture_id: str, entry: TimelineEntry) -> None:
        log.debug("no timeline for %s of %s", entry.step, picture_id)


_UNRECORDED = _Unrecorded()


class InboundMessage(Protocol):
    """The message port: the part of a JetStream message the runtime uses (a fake in tests)."""

    subject: str
    data: bytes

    @property
    def metadata(self) -> Any: ...  # .num_delivered, .sequence.stream
    async def ack(self) -> None: ...
    async def nak(self, delay: float | None = None) -> None: ...
    async def term(self) -> None: ...


async def _keep_in_progress(msg: InboundMessage) -> None:
    in_progress = getattr(msg, "in_progress", None)
    if in_progress is None:
        return
    while True:
        await asyncio.sleep(ACK_WAIT_S / 3)
        try:
            await in_progress()
        except Exception as exc:  # the ack wait then runs out and the message comes back
            log.warning("could not tell the server a message is in progress: %r", exc)


class Unparsable(ValueError):
    """A payload a subscription cannot read: never worth redelivering."""


@dataclass(frozen=True)
class Subscription(Generic[M]):
    name: str  # the durable consumer is "<service>-<name>"
    stream: str
    subjects: tuple[str, ...]
    parse: Callable[[bytes], M]  # raises Unparsable
    handler: Callable[[M, int], Awaitable[None]]
    step: str  # the step a failure is reported against
    max_deliver: int
    backoff_s: tuple[float, ...]

    def delay(self, attempt: int) -> float:
        backoff = self.backoff_s
        return backoff[min(attempt - 1, len(backoff) - 1)] if backoff else 0.0


def _delivery(msg: InboundMessage) -> tuple[int, int | None]:
    """(how many times this message was delivered, its stream sequence)."""
    try:
        meta = msg.metadata
        return int(meta.num_delivered or 1), int(meta.sequence.stream)
    except Exception:
        return 1, None


class EventEdge:
    def __init__(self, js: Any, settings: Settings, service: str, nc: Any = None) -> None:
        self.nc = nc
        self.js = js
        self.settings = settings
        self.service = service
        self.bus = EventBus(js, settings, f"picadaily/{service}",
                            choreography.may_publish(service))
        self.problem: str | None = None  # set when a consumer loop ended while it should run
        self.task: asyncio.Task[None] | None = None  # the running consumer (event_runtime)
        self.handled: set[str] = set()  # the reactions given a handler (``on``)

    # --- building subscriptions ---------------------------------------------------------------

    def on(self, name: str, handler: Handler[Any],
           timeline: TimelineRecorder | None = None) -> Subscription[Event[Any]]:
        """The subscription of this service's reaction ``name`` (``picadaily.choreography``):
        its durable consumer, event types and step come from the declaration.

        The runtime keeps the books: a ``timed`` reaction's step is timed here and its entry
        recorded (an error at once through ``timeline``; a success travels in the event the
        handler returns; a handler that returns none did not do the step); the event it
        returns is published as the next one of the same picture, version and trace. Entries
        of ``Delivery.also`` steps go with the event, or through ``timeline`` without one."""
        declared = choreography.reaction(self.service, name)
        prefix = self.settings.event_prefix
        types = frozenset(declared.types)

        def parse(body: bytes) -> Event[Any]:
            try:
                event = parse_event(body, prefix)
            except MalformedEvent as exc:
                raise Unparsable(str(exc)) from exc
            if event.type not in types:
                raise Unparsable(f"a {event.type} event: {declared.durable} reads "
                                 f"{', '.join(sorted(types))} only")
            return event

        publishes = frozenset(m.TYPE for m in declared.publishes)

        async def books_kept(event: Event[Any], attempt: int) -> None:
            await self._react(declared, publishes, handler, timeline, event, attempt)

        self.handled.add(name)
        return Subscription(
            name=name, stream=self.settings.events_stream,
            subjects=tuple(subject(self.settings, t) for t in declared.types), parse=parse,
            handler=books_kept, step=declared.step, max_deliver=self.settings.event_max_deliver,
            backoff_s=tuple(self.settings.event_backoff_s))

    async def _react(self, declared: choreography.Reaction, publishes: frozenset[str],
                     handler: Handler[Any],
                     timeline: TimelineRecorder | None, event: Event[Any], attempt: int) -> None:
        carried = CarriedTimeline(timeline or _UNRECORDED)
        delivery = Delivery(event, attempt, carried)
        started = utcnow()
        try:
            out = await handler(event, delivery)
        except Exception as exc:
            if declared.timed:
                await carried.record(event.picture_id, TimelineEntry(
                    step=declared.step, started=started, ended=utcnow(), outcome="error",
                    attempt=attempt, error=error_text(exc), mode=event.mode,
                    version=event.version))
            raise
        if declared.timed and out is not None:
            # (a handler that returns no event did not do the step: no thumbnail for a
            # picture that is not safe)
            carried.entries.append(TimelineEntry(
                step=declared.step, started=started, ended=utcnow(), outcome="ok",
                attempt=attempt, mode=event.mode, version=event.version))
        carried.entries.sort(key=lambda e: e.started)
        if out is None:
            for entry in carried.entries:
                await (timeline or _UNRECORDED).record(event.picture_id, entry)
            return
        if out.TYPE not in publishes:
            raise RuntimeError(f"{declared.durable} may not publish {out.TYPE} (see "
                               "picadaily.choreography)")
        if isinstance(out, StepReport):
            out = out.model_copy(update={"timeline": carried.entries})
        await self.bus.publish(event.follow(out, self.bus.source),
                               dedupe_key=f"{event.picture_id}:{out.TYPE}:{event.id}")

    # --- running ------------------------------------------------------------------------------

    async def run(self, subscriptions: Sequence[Subscription[Any]], stop: asyncio.Event) -> None:
        if self.nc is None:
            raise RuntimeError("an event edge needs its NATS connection to consume")
        self.check_declared()
        for s in subscriptions:
            await self._create_consumer(s)
        await asyncio.gather(*(self._puller(s).run(stop) for s in subscriptions))

    def check_declared(self) -> None:
        """A service handles exactly the reactions the choreography declares for it."""
        declared = {r.name for r in choreography.reactions_of(self.service)}
        if self.handled != declared:  # (the trigger: no reaction, its storage subscription)
            raise RuntimeError(
                f"{self.service} handles {sorted(self.handled)} but picadaily.choreography "
                f"declares {sorted(declared)} for it")

    def _puller(self, s: Subscription[Any]) -> ContinuousPull:
        async def handle(msg: Any) -> None:
            await self.handle(s, msg)

        return ContinuousPull(self.nc, s.stream, self.durable(s), handle, slots=BATCH)

    def durable(self, s: Subscription[Any]) -> str:
        return f"{self.service}-{s.name}"

    def redrive_subject(self, s: Subscription[Any]) -> str:
        """Where a redriven dead letter of ``s`` goes: only this consumer listens there."""
        return redrive_subject(self.settings, s.stream, self.durable(s))

    async def _create_consumer(self, s: Subscription[Any]) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            durable_name=self.durable(s), ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
            # One more than ours: we dead-letter on the last delivery ourselves.
            max_deliver=s.max_deliver + 1,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=[*s.subjects, self.redrive_subject(s)],
            max_ack_pending=256,
        )
        # Creates the durable, or updates an existing one in place (the server's create-or-update).
        await self.js.add_consumer(s.stream, config)

    async def handle(self, s: Subscription[Any], msg: InboundMessage) -> None:
        """Handle one message. Never raises: whatever goes wrong is caught for this message.
        While it is handled, the server hears every few seconds that it is in progress: a
        short ack wait then only bites a consumer that died holding the message."""
        alive = asyncio.create_task(_keep_in_progress(msg))
        try:
            await self._handle(s, msg)
        except Exception:
            log.exception("%s: a message on %s was not settled; it will be redelivered",
                          self.durable(s), msg.subject)
        finally:
            alive.cancel()

    async def _handle(self, s: Subscription[Any], msg: InboundMessage) -> None:
        attempt, seq = _delivery(msg)
        try:
            parsed = s.parse(msg.data)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, Unparsable) else f"unreadable: {exc!r}"
            log.error("%s: a malformed message on %s is set aside: %s", self.durable(s),
                      msg.subject, reason)
            await self.dead_letter(s, msg, None, reason, attempt, seq)
            await msg.term()
            return
        # One consumer span per delivery, in the context the message carries: a redelivery is
        # its own span, and every call the handler makes (HTTP, S3, publish) is its child.
        with tracer.start_as_current_span(
                f"{s.step} on {msg.subject}", kind=SpanKind.CONSUMER,
                context=extracted(getattr(msg, "headers", None), parsed.traceparent),
                attributes={PICTURE_ATTRIBUTE: parsed.picture_id, "messaging.system": "nats",
                            "messaging.destination.name": msg.subject,
                            "messaging.consumer.group.name": self.durable(s),
                            "picadaily.step": s.step, "picadaily.attempt": attempt}) as span:
            try:
                await s.handler(parsed, attempt)
            except NOT_RETRYABLE as exc:
                span.set_status(StatusCode.ERROR, error_text(exc))
                log.warning("%s of %s cannot succeed: %s", s.step, parsed.picture_id,
                            error_text(exc))
                # the same words as the workflow's: "<step> failed: <reason>"
                await self.fail_picture(parsed, s.step, f"{s.step} failed: {error_text(exc)}")
                await msg.ack()
            except Exception as exc:
                span.set_status(StatusCode.ERROR, error_text(exc))
                await self._retry_or_give_up(s, msg, parsed, exc, attempt, seq)
            else:
                await msg.ack()

    async def _retry_or_give_up(self, s: Subscription[Any], msg: InboundMessage, parsed: Any,
                                exc: Exception, attempt: int, seq: int | None) -> None:
        if attempt >= s.max_deliver:
            log.error("%s of %s failed %d times; dead-lettered: %s", s.step,
                      parsed.picture_id, attempt, error_text(exc))
            await self.dead_letter(s, msg, parsed, error_text(exc), attempt, seq)
            await self.fail_picture(
                parsed, s.step, f"{s.step} failed after {attempt} attempts: {error_text(exc)}")
            await msg.ack()
        else:
            delay = s.delay(attempt)
            log.warning("%s of %s failed (attempt %d), retrying in %.1f s: %s", s.step,
                        parsed.picture_id, attempt, delay, error_text(exc))
            await msg.nak(delay=delay)

    async def fail_picture(self, handled: Handled, step: str, reason: str) -> None:
        if not handled.reports_failure:
            return
        failed = Event(PictureFailed(step=step, reason=reason), picture_id=handled.picture_id,
                       mode=handled.mode, version=handled.version, source=self.bus.source,
                       traceparent=new_traceparent(handled.traceparent or None))
        await self.bus.publish(failed, dedupe_key=f"{handled.picture_id}:failed:{handled.id}")

    async def dead_letter(self, s: Subscription[Any], msg: InboundMessage,
                          handled: Handled | None, error: str, attempts: int,
                          seq: int | None) -> None:
        consumer = self.durable(s)
        try:
            event: Any = json.loads(msg.data)
        except (UnicodeDecodeError, ValueError):
            event = msg.data.decode("utf-8", "replace")
        letter = {
            "consumer": consumer, "subject": msg.subject,
            "picture_id": handled.picture_id if handled else None,
            "step": s.step, "error": error, "deliveries": attempts,
            "failed_at": utcnow().isoformat(), "malformed": handled is None, "event": event,
            "redrive_subject": self.redrive_subject(s),
        }
        # One dead letter per message, even if we die between publishing it and the ack.
        headers = {"Nats-Msg-Id": f"dead:{consumer}:{seq}"} if seq is not None else None
        await self.js.publish(dead_letter_subject(self.settings, consumer),
                              json.dumps(letter).encode(), headers=headers)
