"""The trigger function: the one place that reads the mode switch.

A created object in the pictures bucket registers the picture; the mode stored with the first
registration (the upload's own choice, else the switch at that moment) decides, once and for all,
how it is processed: orchestration starts workflow ``ProcessPicture`` (its id derived from the
picture id, so a duplicated storage event cannot start a second run), choreography publishes
``picture.uploaded``. A removed object publishes ``picture.deleted`` (both modes).

It consumes storage events on the same runtime as every event edge (``picadaily.consumer``):
explicit ack, redelivery with backoff, dead letters, supervision.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from picadaily.consumer import EventEdge, Subscription, Unparsable
from picadaily.contracts import Picture, Registration
from picadaily.event_data import PictureDeleted, PictureFailed, PictureUploaded
from picadaily.event_runtime import event_edge_running, until_stopped_or_failed
from picadaily.events import PICTURE_DELETED, PICTURE_UPLOADED, Event, EventBus
from picadaily.http_client import service_client
from picadaily.ids import picture_id_for_key
from picadaily.internal_auth import internal_headers
from picadaily.mode import ModeSwitch, UnknownMode, parse_mode
from picadaily.runtime import announce_ready
from picadaily.service_errors import raise_for_service_error
from picadaily.settings import Mode, Settings
from picadaily.steps import Step
from picadaily.storage_events import MalformedStorageEvent, StorageEvent, parse, subject_for
from workflow.inputs import PictureInput
from workflow.starter import ended_without_finishing, start_processing

log = logging.getLogger(__name__)
# Storage events wait longer than domain events: the trigger's budget outlasts a restart of
# the metadata service or Temporal (1+2+5+10+20+30*3 s, 10 deliveries).
MAX_DELIVER = 10
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)


@dataclass(frozen=True)
class StorageNotice:
    """One storage-event message (MinIO sends one record per message; we accept several)."""

    events: list[StorageEvent] = field(default_factory=list)

    @property
    def picture_id(self) -> str:
        return picture_id_for_key(self.events[0].key) if self.events else ""

    @property
    def mode(self) -> Mode | None:
        return None  # decided by the trigger, not carried by the event

    @property
    def version(self) -> int | None:
        return None  # the metadata numbers versions; the storage event only has the etag

    @property
    def traceparent(self) -> str:
        return self.events[0].user_metadata.get("traceparent", "") if self.events else ""

    @property
    def id(self) -> str:
        first = self.events[0] if self.events else None
        return f"{first.sequencer or first.etag}" if first else ""

    @property
    def reports_failure(self) -> bool:
        """Failing to register an upload fails the picture; a failed removal does not."""
        return any(e.kind == "created" for e in self.events)


def parse_notice(body: bytes) -> StorageNotice:
    try:
        return StorageNotice(parse(body))
    except MalformedStorageEvent as exc:
        raise Unparsable(str(exc)) from exc


@dataclass
class Trigger:
    settings: Settings
    temporal: Any  # temporalio.client.Client
    modes: ModeSwitch
    metadata: httpx.AsyncClient
    bus: EventBus

    async def handle(self, body: bytes) -> None:
        await self.handle_notice(parse_notice(body))

    async def handle_notice(self, notice: StorageNotice, attempt: int = 1) -> None:
        for event in notice.events:
            if event.bucket != self.settings.pictures_bucket:
                continue
            if event.kind == "created":
                await self.picture_uploaded(event)
            elif event.kind == "removed":
                await self.picture_removed(event)

    async def requested_mode(self, event: StorageEvent) -> Mode:
        """The upload's own choice, else the switch now. Only the first registration's mode
        counts (the metadata keeps it), so a redelivered event cannot change it."""
        requested = event.user_metadata.get("mode")
        if requested:
            try:
                return parse_mode(requested)
            except UnknownMode:
                log.warning("object %s asks for unknown mode %r; using the switch",
                            event.key, requested)
        return await self.modes.get()

    async def register(self, event: StorageEvent) -> Picture | None:
        """The picture's document, created or completed; None if it was deleted meanwhile."""
        picture_id = picture_id_for_key(event.key)
        reg = Registration(
            object_key=event.key,
            original_name=event.user_metadata.get("filename") or event.key,
            content_type=event.content_type,
            size=event.size,
            mode=await self.requested_mode(event),
            etag=event.etag or None,
        )
        if event.time:
            reg.created = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
        resp = await self.metadata.put(f"/pictures/{picture_id}", json=reg.model_dump(mode="json"))
        if resp.status_code == 410:
            log.info("%s was deleted after this object was created: event ignored", picture_id)
            return None
        raise_for_service_error(resp)
        return Picture.model_validate(resp.json())

    async def picture_uploaded(self, event: StorageEvent) -> None:
        picture = await self.register(event)
        if picture is None:
            return
        if event.etag and picture.etag and picture.etag != event.etag:
            log.info("%s: event about a replaced original (etag %s, now %s) ignored",
                     picture.id, event.etag, picture.etag)
            return
        if picture.status != "processing":
            log.info("%s version %d is %s already: duplicate storage event ignored",
                     picture.id, picture.version, picture.status)
            return
        if picture.mode == "orchestration":
            started = await start_processing(self.temporal, self.settings, PictureInput(
                picture_id=picture.id, bucket=event.bucket, key=event.key, mode="orchestration",
                version=picture.version, retry_budget_s=self.settings.step_retry_budget_s,
                review_timeout_s=self.settings.review_timeout,
                local_first=self.settings.local_first_steps))
            if not started:  # a duplicate, or a run somebody ended before it finished
                await self.fail_if_run_ended(picture)
            return
        if picture.timeline:
            log.info("%s is already being processed: duplicate storage event ignored", picture.id)
            return
        # The stored created time (a redelivered event keeps the first one) orders the collage.
        uploaded = Event(PictureUploaded(bucket=event.bucket, key=event.key,
                                         created=picture.created),
                         picture_id=picture.id, mode=picture.mode, version=picture.version,
                         source=self.bus.source,
                         traceparent=event.user_metadata.get("traceparent", ""))
        # The same storage event twice publishes one picture.uploaded (JetStream dedupe);
        # past the dedupe window the handlers' idempotency takes over.
        await self.bus.publish(uploaded, dedupe_key=(
            f"{picture.id}:uploaded:v{picture.version}:{event.etag}:{event.sequencer}"))
        log.info("published %s for %s version %d", PICTURE_UPLOADED, picture.id, picture.version)

    async def fail_if_run_ended(self, picture: Picture) -> None:
        """The picture's run exists but is over and the picture is not final (terminated from
        Temporal's UI or CLI): it will never finish, so it fails, with the reason."""
        reason = await ended_without_finishing(self.temporal, picture.id, picture.version)
        if reason is None:
            return
        log.warning("%s: %s; the picture fails", picture.id, reason)
        await self.bus.publish(Event(
            PictureFailed(step=Step.REGISTER, reason=reason, run_ended=True),
            picture_id=picture.id, mode=picture.mode, version=picture.version,
            source=self.bus.source),
            dedupe_key=f"{picture.id}:run-ended:v{picture.version}")

    async def picture_removed(self, event: StorageEvent) -> None:
        """Deletions fan out through NATS in both modes: each service cleans up on its own."""
        picture_id = picture_id_for_key(event.key)
        deleted_at = datetime.fromisoformat(event.time.replace("Z", "+00:00")) \
            if event.time else None
        deleted = Event(PictureDeleted(bucket=event.bucket, key=event.key,
                                       deleted_at=deleted_at),
                        picture_id=picture_id, mode=None, source=self.bus.source)
        await self.bus.publish(deleted, dedupe_key=f"{picture_id}:deleted:{event.sequencer}")
        log.info("published %s for %s", PICTURE_DELETED, picture_id)

    def subscription(self) -> Subscription[StorageNotice]:
        return Subscription(
            name="storage", stream=self.settings.storage_stream,
            subjects=(subject_for(self.settings.pictures_bucket),), parse=parse_notice,
            handler=self.handle_notice, step=Step.REGISTER, max_deliver=MAX_DELIVER,
            backoff_s=BACKOFF_S)


async def main(settings: Settings, stop: asyncio.Event) -> None:

    from picadaily.temporal_client import connect_temporal

    temporal = await connect_temporal(settings, traced=True)
    async with service_client(settings.metadata_url, timeout=10,
                              headers=internal_headers(settings.internal_token)) as metadata:

        async def subscriptions(edge: EventEdge) -> list[Subscription[StorageNotice]]:
            trigger = Trigger(settings, temporal, await ModeSwitch.open(edge.js, settings),
                              metadata, edge.bus)
            return [trigger.subscription()]

        async with event_edge_running(settings, "trigger", subscriptions) as edge:
            announce_ready(f"trigger consuming {subject_for(settings.pictures_bucket)}")
            await until_stopped_or_failed(edge, stop)
