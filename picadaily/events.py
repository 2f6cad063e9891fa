"""Domain events: CloudEvents 1.0 (structured JSON) on ``<prefix>.<type>`` subjects.

Every event carries the picture id (``subject`` and ``data.picture_id``), the mode, the picture
version it is about (``data.version``, when it is about processing one), and W3C trace
context (``traceparent``). Published with a ``Nats-Msg-Id`` so JetStream drops a duplicate
publish of the same fact within its duplicate window.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from picadaily.contracts import utcnow
from picadaily.event_data import (
    DATA_MODELS,
    CollageUpdated,
    EventData,
    PictureAnalyzed,
    PictureDeleted,
    PictureExifExtracted,
    PictureFailed,
    PictureReviewDecided,
    PictureReviewed,
    PictureReviewRequested,
    PictureUploaded,
    ThumbnailCreated,
)
from picadaily.settings import MODES, Mode, Settings
from picadaily.tracing import PICTURE_ATTRIBUTE, nats_headers, tracer

# Event types (subject suffixes): the subject is "<prefix>.<type>". What each one says is its
# model in ``picadaily.event_data``; who publishes and consumes it, ``picadaily.choreography``.
PICTURE_UPLOADED = PictureUploaded.TYPE
PICTURE_ANALYZED = PictureAnalyzed.TYPE
PICTURE_EXIF_EXTRACTED = PictureExifExtracted.TYPE
THUMBNAIL_CREATED = ThumbnailCreated.TYPE
COLLAGE_UPDATED = CollageUpdated.TYPE
PICTURE_FAILED = PictureFailed.TYPE
PICTURE_DELETED = PictureDeleted.TYPE
# Moderation: metadata asks for a person (review_requested); a decision arrives (review_decided:
# from a person through the frontend, or from the timeout, a JetStream scheduled message); the
# metadata applies the first one and announces it (reviewed), which thumbnails acts on.
PICTURE_REVIEW_REQUESTED = PictureReviewRequested.TYPE
PICTURE_REVIEW_DECIDED = PictureReviewDecided.TYPE
PICTURE_REVIEWED = PictureReviewed.TYPE
# Cleaning up after a failure or a deletion must never fail the picture again.
CLEAN_UP_TYPES = frozenset({PICTURE_FAILED, PICTURE_DELETED})
D = TypeVar("D", bound=EventData)
N = TypeVar("N", bound=EventData)


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: the parent's trace id (or a new one) with a new span id."""
    trace_id = parent.split("-")[1] if parent and parent.count("-") == 3 else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


@dataclass(frozen=True)
class Event(Generic[D]):
    """One domain event: what it says (``data``, whose model names its type) and about what."""

    data: D
    picture_id: str
    mode: Mode | None  # None: not a processing event (a deletion is the same in both modes)
    version: int | None = None  # the picture version being processed (None: not about one)
    traceparent: str = ""
    id: str = ""
    source: str = ""
    time: str = ""

    @property
    def type(self) -> str:
        return self.data.TYPE

    def to_cloudevent(self, prefix: str) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.id or str(uuid.uuid4()),
            "source": self.source or "picadaily",
            "type": f"{prefix}.{self.type}",
            "subject": self.picture_id,
            "time": self.time or utcnow().isoformat(),
            "datacontenttype": "application/json",
            "traceparent": self.traceparent or new_traceparent(),
            "data": {"picture_id": self.picture_id, "mode": self.mode,
                     **({"version": self.version} if self.version is not None else {}),
                     **self.data.model_dump(mode="json")},
        }

    @property
    def reports_failure(self) -> bool:
        """Whether giving up on this event fails its picture."""
        return self.type not in CLEAN_UP_TYPES

    def follow(self, data: N, source: str) -> Event[N]:
        """The next event of the same picture and version, in the same trace."""
        return Event(data=data, picture_id=self.picture_id, mode=self.mode,
                     traceparent=new_traceparent(self.traceparent), source=source,
                     version=self.version)


class MalformedEvent(ValueError):
    pass


def parse_event(body: bytes, prefix: str) -> Event:
    """Read one CloudEvent; anything else (not JSON, not an object, fields of the wrong type)
    raises ``MalformedEvent`` with the reason."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedEvent(f"not a CloudEvent: a JSON {type(doc).__name__}, not an object")
    if doc.get("specversion") != "1.0":
        raise MalformedEvent("not a CloudEvents 1.0 event")
    full_type = _text(doc, "type")
    if not full_type.startswith(prefix + "."):
        raise MalformedEvent(f"event type {full_type!r} is not under {prefix}.")
    raw_data = doc.get("data") or {}
    if not isinstance(raw_data, dict):
        raise MalformedEvent("the event's data is not an object")
    data = dict(raw_data)
    type_ = full_type[len(prefix) + 1:]
    model = DATA_MODELS.get(type_)
    if model is None:
        raise MalformedEvent(f"unknown event type {full_type!r}")
    picture_id = data.pop("picture_id", None) or doc.get("subject")
    if not isinstance(picture_id, str) or not picture_id:
        raise MalformedEvent("the event names no picture (data.picture_id or subject)")
    mode = data.pop("mode", None)
    if mode is not None and mode not in MODES:
        raise MalformedEvent(f"unknown mode {mode!r}")
    version = data.pop("version", None)
    if version is not None and (type(version) is not int or version < 1):
        raise MalformedEvent(f"the event's version {version!r} is not a positive integer")
    try:
        typed = model.model_validate(data)
    except ValidationError as exc:
        raise MalformedEvent(f"{type_}: {_problems(exc)}") from exc
    return Event(data=typed, picture_id=picture_id, mode=mode,
                 version=version, traceparent=_text(doc, "traceparent", ""),
                 id=_text(doc, "id"), source=_text(doc, "source", ""),
                 time=_text(doc, "time", ""))


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}"
                     for e in exc.errors())


def _text(doc: dict[str, Any], name: str, default: str | None = None) -> str:
    value = doc.get(name, default)
    if not isinstance(value, str):
        raise MalformedEvent(f"the event's {name!r} is missing or not a string")
    return value


def subject(settings: Settings, type_: str) -> str:
    return f"{settings.event_prefix}.{type_}"


def schedule_subject(settings: Settings, key: str) -> str:
    """Where a scheduled message waits (one per key: a new one replaces it)."""
    return f"{settings.event_prefix}.schedules.{key}"


def changes_subject(settings: Settings) -> str:
    """Plain NATS (not JetStream): a picture's document changed. Live pages listen to it."""
    return f"{settings.event_prefix}_changes.pictures"


class EventBus:
    """Publishes domain events to JetStream."""

    def __init__(self, js: Any, settings: Settings, source: str,
                 may_publish: frozenset[str] | None = None) -> None:
        self._js = js
        self._settings = settings
        self.source = source
        self._may_publish = may_publish  # None: anything (tests, tools)

    def _check(self, event: Event[Any]) -> None:
        if self._may_publish is not None and event.type not in self._may_publish:
            raise ValueError(f"{self.source} is not declared to publish {event.type} "
                             "(picadaily.choreography)")

    async def publish(self, event: Event[Any], *, dedupe_key: str | None = None) -> None:
        """Publish inside a producer span; the trace context travels in the message headers
        and in the CloudEvent's ``traceparent``."""
        self._check(event)
        to = subject(self._settings, event.type)
        with tracer.start_as_current_span(
                f"publish {event.type}", kind=SpanKind.PRODUCER,
                attributes={PICTURE_ATTRIBUTE: event.picture_id, "messaging.system": "nats",
                            "messaging.destination.name": to}):
            headers = nats_headers({"Nats-Msg-Id": dedupe_key} if dedupe_key else None)
            body = event.to_cloudevent(self._settings.event_prefix)
            if headers.get("traceparent"):
                body["traceparent"] = headers["traceparent"]
            if not event.source:
                body["source"] = self.source
            await self._js.publish(to, json.dumps(body).encode(), headers=headers or None)

    async def schedule(self, event: Event[Any], at: datetime, key: str) -> None:
        """Have JetStream publish ``event`` at ``at`` (a scheduled message, nats-server >= 2.12):
        it waits in the events stream, so it survives any of our processes and the server's own
        restart. One per ``key``: scheduling again replaces it."""
        self._check(event)
        body = event.to_cloudevent(self._settings.event_prefix)
        body["source"] = event.source or self.source
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await self._js.publish(
            schedule_subject(self._settings, key), json.dumps(body).encode(),
            headers={"Nats-Schedule": f"@at {stamp}",
                     "Nats-Schedule-Target": subject(self._settings, event.type),
                     "Nats-Rollup": "sub"})

    async def cancel_schedule(self, key: str) -> None:
        """Drop a scheduled message that is no longer wanted (none: nothing happens)."""
        await self._js.purge_stream(self._settings.events_stream,
                                    subject=schedule_subject(self._settings, key))
