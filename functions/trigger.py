"""The trigger function: the one place that reads the mode switch.

A created object in the pictures bucket registers the picture and then, in orchestration mode,
starts workflow ``ProcessPicture`` (its id derived from the picture id, so a duplicated storage
event cannot start a second run).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from picadaily.contracts import Registration
from picadaily.events import PICTURE_DELETED, PICTURE_UPLOADED, Event, EventBus
from picadaily.ids import picture_id_for_key, workflow_id_for
from picadaily.mode import ModeSwitch, UnknownMode, parse_mode
from picadaily.nats_util import close_nats
from picadaily.process import announce_ready
from picadaily.settings import Mode, Settings
from workflow.inputs import PictureInput

from .storage_events import MalformedStorageEvent, StorageEvent, parse, subject_for

log = logging.getLogger(__name__)
DURABLE = "trigger"


@dataclass
class Trigger:
    settings: Settings
    temporal: Any  # temporalio.client.Client
    modes: ModeSwitch
    metadata: httpx.AsyncClient
    bus: EventBus

    async def handle(self, body: bytes) -> None:
        for event in parse(body):
            if event.bucket != self.settings.pictures_bucket:
                continue
            if event.kind == "created":
                await self.picture_uploaded(event)
            elif event.kind == "removed":
                await self.picture_removed(event)

    async def resolve_mode(self, event: StorageEvent) -> Mode:
        requested = event.user_metadata.get("mode")
        if requested:
            try:
                return parse_mode(requested)
            except UnknownMode:
                log.warning("object %s asks for unknown mode %r; using the switch",
                            event.key, requested)
        return await self.modes.get()

    async def picture_uploaded(self, event: StorageEvent) -> None:
        picture_id = picture_id_for_key(event.key)
        mode = await self.resolve_mode(event)
        reg = Registration(
            object_key=event.key,
            original_name=event.user_metadata.get("filename") or event.key,
            content_type=event.content_type,
            size=event.size,
            mode=mode,
        )
        if event.time:
            reg.created = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
        resp = await self.metadata.put(f"/pictures/{picture_id}", json=reg.model_dump(mode="json"))
        resp.raise_for_status()
        if mode == "orchestration":
            await self.start_workflow(PictureInput(picture_id=picture_id, bucket=event.bucket,
                                                   key=event.key, mode=mode))
        else:
            doc = resp.json()
            if doc["status"] != "processing" or doc["timeline"]:
                log.info("%s is already being processed: duplicate storage event ignored",
                         picture_id)
                return
            # The stored created time (a re-delivered event keeps the first one) orders the collage.
            created = doc["created"]
            uploaded = Event(type=PICTURE_UPLOADED, picture_id=picture_id, mode=mode,
                             data={"bucket": event.bucket, "key": event.key, "created": created},
                             source=self.bus.source)
            # The same storage event twice publishes one picture.uploaded (JetStream dedupe);
            # past the dedupe window the handlers' idempotency takes over.
            await self.bus.publish(uploaded, dedupe_key=f"{picture_id}:uploaded:{event.etag}")
            log.info("published %s for %s", PICTURE_UPLOADED, picture_id)

    async def start_workflow(self, picture: PictureInput) -> None:
        from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
        from temporalio.exceptions import WorkflowAlreadyStartedError

        from workflow.process_picture import ProcessPicture

        try:
            await self.temporal.start_workflow(
                ProcessPicture.run,
                picture,
                id=workflow_id_for(picture.picture_id),
                task_queue=self.settings.temporal_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            log.info("started workflow %s", workflow_id_for(picture.picture_id))
        except WorkflowAlreadyStartedError:
            log.info("workflow %s already exists: duplicate storage event ignored",
                     workflow_id_for(picture.picture_id))

    async def picture_removed(self, event: StorageEvent) -> None:
        """Deletions fan out through NATS in both modes: each service cleans up on its own."""
        picture_id = picture_id_for_key(event.key)
        deleted = Event(type=PICTURE_DELETED, picture_id=picture_id, mode="garbage-collection",
                        data={"bucket": event.bucket, "key": event.key}, source=self.bus.source)
        await self.bus.publish(deleted, dedupe_key=f"{picture_id}:deleted:{event.sequencer}")
        log.info("published %s for %s", PICTURE_DELETED, picture_id)


async def consume(trigger: Trigger, js: Any, stop: asyncio.Event) -> None:
    """A JetStream durable pull consumer with explicit ack and bounded redelivery."""
    from nats.js.api import AckPolicy, ConsumerConfig

    subject = subject_for(trigger.settings.pictures_bucket)
    sub = await js.pull_subscribe(
        subject, durable=DURABLE, stream=trigger.settings.storage_stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=10,
                              backoff=[1, 2, 5, 10, 20, 30, 30, 30, 30]),
    )
    announce_ready(f"trigger consuming {subject}")
    while not stop.is_set():
        try:
            messages = await sub.fetch(16, timeout=1)
        except TimeoutError:
            continue
        for msg in messages:
            try:
                await trigger.handle(msg.data)
            except MalformedStorageEvent as exc:
                log.error("dropping a malformed storage event: %s", exc)
                await msg.term()
            except Exception:
                log.exception("storage event not handled; it will be redelivered")
                delivered = msg.metadata.num_delivered or 1
                await msg.nak(delay=min(2.0 ** delivered, 30.0))
            else:
                await msg.ack()
    await sub.unsubscribe()


async def main(settings: Settings, stop: asyncio.Event) -> None:
    import nats
    from temporalio.client import Client

    from infra.provision import provision_streams

    nc = await nats.connect(settings.nats_url, name="trigger")
    try:
        js = nc.jetstream()
        await provision_streams(js, settings)
        temporal = await Client.connect(settings.temporal_address,
                                        namespace=settings.temporal_namespace)
        async with httpx.AsyncClient(base_url=settings.metadata_url, timeout=10) as metadata:
            trigger = Trigger(settings, temporal, await ModeSwitch.open(js, settings), metadata,
                              EventBus(js, settings, "picadaily/trigger"))
            await consume(trigger, js, stop)
    finally:
        await close_nats(nc)
