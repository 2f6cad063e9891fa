"""The storage-event bridge: S3 bucket notifications (SQS) -> NATS ``storage.events.<bucket>``.

A message leaves the queue only after JetStream acknowledged every record in it, so nothing is
lost when either side restarts (at-least-once: a record may be published twice).
Real MinIO publishes these events to NATS itself; then this bridge is simply not run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import unquote_plus

from picadaily.contracts import utcnow
from picadaily.nats_util import close_nats, connect_nats
from picadaily.runtime import announce_ready
from picadaily.settings import Settings
from picadaily.storage import queue_url, s3_client, sqs_client
from picadaily.storage_events import MalformedStorageEvent, ObjectHead, minio_event, subject_for
from picadaily.streams import dead_letter_subject, provision_streams

log = logging.getLogger(__name__)
BRIDGE = "storage-bridge"


class StorageBridge:
    def __init__(self, settings: Settings, js: Any, sqs: Any, queue_url: str) -> None:
        self._settings = settings
        self._js = js
        self._sqs = sqs
        self._queue_url = queue_url
        self._s3 = s3_client(settings)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("bridging %s -> %s.*", self._queue_url, subject_for(""))
        while not stop.is_set():
            try:
                handled = await self.pump_once(wait_seconds=1)
            except Exception:
                log.exception("bridge cycle failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            if not handled:
                await asyncio.sleep(0)

    async def pump_once(self, wait_seconds: int = 0) -> int:
        resp = await asyncio.to_thread(
            self._sqs.receive_message, QueueUrl=self._queue_url, MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
        )
        messages = resp.get("Messages", [])
        for message in messages:
            try:
                records = _records(message)
            except MalformedStorageEvent as exc:
                await self._set_aside(message, str(exc))
                continue
            await self._forward(message, records)
        return len(messages)

    async def _set_aside(self, message: dict[str, Any], reason: str) -> None:
        """A body that is no S3 notification: a dead letter (once), then off the queue, so the
        rest of the batch and the queue go on."""
        log.error("a malformed SQS message is set aside: %s", reason)
        letter = {"consumer": BRIDGE, "subject": self._queue_url, "picture_id": None,
                  "step": "register", "error": reason, "deliveries": 1,
                  "failed_at": utcnow().isoformat(), "malformed": True,
                  "event": str(message.get("Body", ""))[:100_000]}
        await self._js.publish(dead_letter_subject(self._settings, BRIDGE),
                               json.dumps(letter).encode(),
                               headers={"Nats-Msg-Id": f"dead:{BRIDGE}:{message.get('MessageId')}"})
        await asyncio.to_thread(self._sqs.delete_message, QueueUrl=self._queue_url,
                                ReceiptHandle=message["ReceiptHandle"])

    async def _forward(self, message: dict[str, Any], records: list[dict[str, Any]]) -> None:
        for record in records:
            head = await asyncio.to_thread(self._head, record)
            event = minio_event(record, head, endpoint=self._settings.s3_endpoint)
            bucket = record["s3"]["bucket"]["name"]
            await self._js.publish(subject_for(bucket), json.dumps(event).encode())
            log.info("%s %s", event["EventName"], event["Key"])
        # Test events (s3:TestEvent) carry no Records: nothing to forward, just drop them.
        await asyncio.to_thread(self._sqs.delete_message, QueueUrl=self._queue_url,
                                ReceiptHandle=message["ReceiptHandle"])

    def _head(self, record: dict[str, Any]) -> ObjectHead | None:
        if "ObjectCreated" not in record.get("eventName", ""):
            return None
        from botocore.exceptions import ClientError

        s3 = record["s3"]
        try:
            resp = self._s3.head_object(Bucket=s3["bucket"]["name"],
                                        Key=unquote_plus(s3["object"]["key"]))
        except ClientError as exc:
            # Deleted again before we looked: forward what the record says; the delete follows.
            log.warning("object of %s is gone: %s", s3["object"]["key"], exc)
            return None
        return ObjectHead(content_type=resp.get("ContentType", "application/octet-stream"),
                          user_metadata=dict(resp.get("Metadata", {})))


async def main(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect_nats(settings, "storage-bridge")
    try:
        js = nc.jetstream()
        await provision_streams(js, settings)
        bridge = StorageBridge(settings, js, sqs_client(settings), queue_url(settings))
        announce_ready("storage bridge")
        await bridge.run(stop)
    finally:
        await close_nats(nc)


def _records(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The S3 event records of an SQS message (none for S3's test event)."""
    try:
        body = json.loads(message["Body"])
        records = body.get("Records", []) if isinstance(body, dict) else None
        if not isinstance(records, list) or not all(
                isinstance(r, dict) and isinstance(r.get("s3"), dict) and "eventName" in r
                for r in records):
            raise TypeError("no list of S3 event records")
        return records
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedStorageEvent(f"not an S3 event notification: {exc}") from exc
