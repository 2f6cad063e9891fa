"""The reconciler: repairs what no event can, by looking.

At start and every ``reconcile_every_s`` seconds, the pictures still processing or waiting for a
review (through the status index); at start and every ``reconcile_full_every_s`` seconds, the
whole bucket against the whole metadata (S3 can only list: that comparison grows with the
library, so it runs less often):

- a picture still ``processing`` after ``reconcile_after_s`` (``reconcile_unseen_after_s`` when
  the trigger never registered it: its storage event is late or lost) whose original exists gets its
  storage event replayed (the trigger and the workflow id make a replay of a picture that is
  merely slow a no-op; one whose event was lost is processed now);
- one whose original is gone is failed (``picture.failed``: "original missing"), so its
  thumbnail and collage place are cleaned up like any failure's;
- a final picture whose original is gone was deleted while its deletion's event was lost (a
  store killed before its event log was flushed): ``picture.deleted`` is published, so garbage
  collection runs as for any deletion;
- an orchestrated picture ``awaiting_review`` whose workflow run somebody ended (Temporal's
  UI or CLI: it has no authorisation of its own) is failed with the reason;
- a choreographed picture still ``awaiting_review`` well after its review timeout (its scheduled
  timeout lost: a stream purged, restored from an old backup) gets the timeout's decision now;
- an object in the pictures bucket older than ``reconcile_after_s`` that the metadata does not
  know (and did not delete after the object was written) gets a storage event, so it is
  registered and processed.

Replays are ordinary storage events in MinIO's format, published where every source publishes,
so the trigger treats them like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from picadaily.choreography import may_publish
from picadaily.contracts import Picture, utcnow
from picadaily.event_data import PictureDeleted, PictureFailed, PictureReviewDecided
from picadaily.events import (
    Event,
    EventBus,
)
from picadaily.http_client import service_client
from picadaily.ids import picture_id_for_key
from picadaily.internal_auth import internal_headers
from picadaily.moderation import timeout_decision, timeout_due
from picadaily.runtime import announce_ready
from picadaily.service_api import Ids
from picadaily.service_errors import raise_for_service_error
from picadaily.settings import Settings, first_address
from picadaily.steps import Status, Step
from picadaily.storage import ObjectInfo, S3ObjectStore
from picadaily.storage_events import escape_key, minio_notification, subject_for
from workflow.starter import ended_without_finishing

log = logging.getLogger(__name__)
STATES_CHUNK = 500
ORIGINAL_MISSING = "original missing: the uploaded object is gone"


@dataclass
class Report:
    replayed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    discovered: list[str] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)  # deleted, their deletion event lost
    overdue_reviews: list[str] = field(default_factory=list)  # review timeouts decided here


class Reconciler:
    def __init__(self, settings: Settings, store: S3ObjectStore, metadata: httpx.AsyncClient,
                 js: Any, bus: EventBus, temporal: Any = None) -> None:
        self._settings = settings
        self._temporal = temporal  # (None: orchestrated waiting pictures are not looked at)
        self._store = store
        self._metadata = metadata
        self._js = js
        self._bus = bus

    async def run_once(self, full: bool = True) -> Report:
        """One round. ``full``: the whole bucket against the whole metadata (lost deletions,
        objects nobody registered); otherwise only the pictures still processing or waiting for
        a review, read through the status index (the library's size does not matter)."""
        report = Report()
        now = utcnow()
        cutoff = now - timedelta(seconds=self._settings.reconcile_after_s)
        # Registered by the frontend but never by the trigger (no etag: its storage event has
        # not arrived): the store's event log is late with it or lost it (SeaweedFS's filer log
        # has handed one over 21.7 s late in a burst here). None of our queues holds such a
        # picture back, so it is replayed sooner.
        unseen_cutoff = now - timedelta(seconds=self._settings.reconcile_unseen_after_s)
        objects: dict[str, datetime] | None = None
        if full:
            objects = dict(await asyncio.to_thread(self._list))
            documents = await self._documents()
        else:
            documents = [*await self._documents(Status.PROCESSING),
                         *await self._documents(Status.AWAITING_REVIEW)]
        for picture in documents:
            unseen = picture.status == Status.PROCESSING and picture.etag is None
            if picture.created > (unseen_cutoff if unseen else cutoff):
                continue  # young: its own events are probably still on their way
            processing = picture.status == Status.PROCESSING
            if self._review_overdue(picture):
                await self._decide_overdue(picture)
                report.overdue_reviews.append(picture.id)
                continue
            if await self._run_ended(picture):
                report.failed.append(picture.id)
                continue
            if not processing and (objects is None or picture.object_key in objects):
                continue  # the usual case: final, and its original is there (or not looked)
            # stuck, or its original was not listed: one HEAD says which
            head = await asyncio.to_thread(self._head, picture.object_key)
            if head is not None and processing:
                await self._replay(picture.object_key, head, f"stuck:{picture.id}")
                report.replayed.append(picture.id)
            elif head is None and processing:
                await self._fail(picture)
                report.failed.append(picture.id)
            elif head is None:
                await self._collect(picture)  # deleted, and its deletion's event was lost
                report.collected.append(picture.id)
        known = {p.object_key for p in documents}
        candidates = [(k, m) for k, m in (objects or {}).items()
                      if k not in known and m <= cutoff]
        for key, head in await self._unknown_objects(candidates):
            await self._replay(key, head, f"unknown:{picture_id_for_key(key)}")
            report.discovered.append(picture_id_for_key(key))
        if report.replayed or report.failed or report.discovered or report.collected \
                or report.overdue_reviews:
            log.warning("reconciled: replayed %s, failed %s, discovered %s, collected %s, "
                        "overdue reviews %s", report.replayed, report.failed, report.discovered,
                        report.collected, report.overdue_reviews)
        return report

    def _review_overdue(self, picture: Picture) -> bool:
        """Choreography only: orchestration's timeout is the workflow's own durable timer."""
        review = picture.review
        if picture.status != Status.AWAITING_REVIEW or review is None \
                or picture.mode != "choreography":
            return False
        due = timeout_due(review.requested, self._settings.review_timeout)
        return due + timedelta(seconds=self._settings.reconcile_after_s) < utcnow()

    async def _run_ended(self, picture: Picture) -> bool:
        """An orchestrated picture waiting for review whose run somebody ended (terminated or
        cancelled through Temporal): no decision can reach it any more, so it fails with the
        reason. (One still processing is replayed like any stuck picture, and the trigger
        finds the same.)"""
        if self._temporal is None or picture.status != Status.AWAITING_REVIEW \
                or picture.mode != "orchestration":
            return False
        reason = await ended_without_finishing(self._temporal, picture.id, picture.version)
        if reason is None:
            return False
        log.warning("%s: %s; the picture fails", picture.id, reason)
        await self._bus.publish(Event(
            PictureFailed(step=Step.REVIEW, reason=reason, run_ended=True),
            picture_id=picture.id, mode=picture.mode, version=picture.version,
            source=self._bus.source),
            dedupe_key=f"{picture.id}:run-ended:v{picture.version}")
        return True

    async def _decide_overdue(self, picture: Picture) -> None:
        decision = timeout_decision(self._settings.review_timeout)
        await self._bus.publish(
            Event(PictureReviewDecided(**decision.model_dump()), picture.id, picture.mode,
                  version=picture.version),
            dedupe_key=f"{picture.id}:review-overdue:{picture.version}")

    async def run(self, stop: asyncio.Event) -> None:
        last_full = float("-inf")
        while not stop.is_set():
            full = time.monotonic() - last_full >= self._settings.reconcile_full_every_s
            try:
                await self.run_once(full=full)
                if full:
                    last_full = time.monotonic()
            except Exception:
                log.exception("a reconciliation round failed; the next one will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.reconcile_every_s)

    # --- looking ------------------------------------------------------------------------------

    async def _documents(self, status: Status | None = None) -> list[Picture]:
        documents: list[Picture] = []
        cursor: str | None = None
        while True:
            # (the fields only: a library's timelines are most of its bytes)
            params: dict[str, Any] = {"limit": 200, "timeline": "false"}
            if status is not None:
                params["status"] = status.value
            if cursor:
                params["cursor"] = cursor
            resp = await self._metadata.get("/pictures", params=params)
            raise_for_service_error(resp)
            page = resp.json()
            documents += [Picture.model_validate(doc) for doc in page["pictures"]]
            cursor = page["next_cursor"]
            if not cursor:
                return documents

    def _head(self, key: str) -> ObjectInfo | None:
        return self._store.head(self._settings.pictures_bucket, key)

    def _list(self) -> list[tuple[str, datetime]]:
        """Every object of the pictures bucket, with when it was last written."""
        return [(o.key, o.modified) for o in
                self._store.list_objects(self._settings.pictures_bucket)]

    async def _unknown_objects(self, objects: list[tuple[str, datetime]]
                               ) -> list[tuple[str, ObjectInfo]]:
        unknown: list[tuple[str, ObjectInfo]] = []
        for start in range(0, len(objects), STATES_CHUNK):
            chunk = objects[start:start + STATES_CHUNK]
            ids = Ids(ids=[picture_id_for_key(key) for key, _ in chunk])
            resp = await self._metadata.post("/pictures/states", json=ids.model_dump())
            raise_for_service_error(resp)
            states: dict[str, str] = resp.json()
            for key, modified in chunk:
                state = states.get(picture_id_for_key(key), "unknown")
                deleted_before = state.startswith("deleted:") and \
                    datetime.fromisoformat(state.removeprefix("deleted:")) < modified
                if state == "unknown" or deleted_before:
                    head = await asyncio.to_thread(self._head, key)
                    if head is not None:
                        unknown.append((key, head))
        return unknown

    # --- repairing ----------------------------------------------------------------------------

    async def _replay(self, key: str, head: ObjectInfo, why: str) -> None:
        bucket = self._settings.pictures_bucket
        modified = head.modified
        body = minio_notification(
            event_name="s3:ObjectCreated:Put", bucket=bucket, escaped_key=escape_key(key),
            time=modified.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            size=head.size, etag=head.etag, content_type=head.content_type,
            user_metadata=dict(head.metadata),
            sequencer=f"reconcile-{int(modified.timestamp() * 1e9):X}",
            deployment_id="picadaily-reconciler",
            endpoint=first_address(self._settings.s3_endpoint))
        # One replay per object version per reconciliation round (JetStream drops repeats).
        round_id = int(utcnow().timestamp() // max(self._settings.reconcile_every_s, 1))
        await self._js.publish(subject_for(bucket), json.dumps(body).encode(),
                               headers={"Nats-Msg-Id": f"reconcile:{why}:{head.etag}:{round_id}"})

    async def _collect(self, picture: Picture) -> None:
        deleted = Event(PictureDeleted(bucket=self._settings.pictures_bucket,
                                       key=picture.object_key, deleted_at=utcnow()),
                        picture_id=picture.id, mode=None, source=self._bus.source)
        await self._bus.publish(deleted, dedupe_key=f"{picture.id}:deleted:reconcile")

    async def _fail(self, picture: Picture) -> None:
        failed = Event(PictureFailed(step=Step.REGISTER, reason=ORIGINAL_MISSING),
                       picture_id=picture.id, mode=picture.mode, source=self._bus.source)
        await self._bus.publish(failed, dedupe_key=f"{picture.id}:failed:reconcile")


async def main(settings: Settings, stop: asyncio.Event) -> None:

    from picadaily.nats_util import close_nats, connect_nats
    from picadaily.streams import provision_streams
    from picadaily.temporal_client import connect_temporal

    nc = await connect_nats(settings, "reconciler")
    try:
        js = nc.jetstream()
        await provision_streams(js, settings)
        async with service_client(settings.metadata_url, timeout=30,
                                  headers=internal_headers(settings.internal_token)) as metadata:
            temporal = await connect_temporal(settings)
            reconciler = Reconciler(settings, S3ObjectStore.from_settings(settings), metadata, js,
                                    EventBus(js, settings, "picadaily/reconciler",
                                             may_publish("reconciler")), temporal)
            announce_ready(f"reconciler: every {settings.reconcile_every_s:.0f} s, pictures "
                           f"waiting over {settings.reconcile_after_s:.0f} s")
            await reconciler.run(stop)
    finally:
        await close_nats(nc)
