"""The storage-event source of the local stack: follows SeaweedFS's filer log for the pictures
bucket (the filer's ``SubscribeMetadata`` gRPC stream, as ``weed filer.meta.tail`` does) and
publishes each change to ``storage.events.<bucket>`` in MinIO's format.

Nothing is lost and nothing is skipped, whatever is killed:

- the position (the largest filer ``ts_ns`` handled: the filer's stamps are not in stream
  order, see ``forward``) lives in NATS KV and never moves past an event JetStream has not
  acknowledged; it is written at most once a second while events flow (a burst of uploads
  costs one KV write a second, not one each) and on stop;
- on start, and after any break (SeaweedFS, NATS, or this process restarting), it subscribes
  again from the stored position; the events after it (after a kill -9, up to a second's worth
  more than were published) are published again, each with a ``Nats-Msg-Id`` derived from the
  filer event, so JetStream drops the repeats within its duplicate window (two minutes; the
  trigger is idempotent beyond it);
- a publish that fails is retried until it succeeds: the position never moves past an event
  that did not reach JetStream;
- a filer entry that cannot be converted is set aside as a dead letter, and the rest goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.trace import SpanKind

from picadaily.contracts import utcnow
from picadaily.ids import picture_id_for_key
from picadaily.settings import Settings, address_list, first_address
from picadaily.storage_events import parse, subject_for
from picadaily.streams import dead_letter_subject
from picadaily.tracing import PICTURE_ATTRIBUTE, extracted, nats_headers, tracer

from . import filer_pb2
from .events import MalformedFilerEvent, Notification, bucket_dir, to_notifications

log = logging.getLogger(__name__)
SUBSCRIBE = "/filer_pb.SeaweedFiler/SubscribeMetadata"
CLIENT_NAME = "picadaily-storage-events"
RETRY_S = (0.5, 1.0, 2.0, 5.0)
CONSUMER = "seaweedfs-source"
STOP_GRACE_S = 5.0
# How often a moving position is written (each write is a JetStream write and a round trip).
POSITION_EVERY_S = 1.0


def position_key(bucket: str) -> str:
    return f"seaweedfs-source.{bucket}"


class SeaweedfsSource:
    def __init__(self, settings: Settings, js: Any, kv: Any, channel: Any) -> None:
        self._settings = settings
        self._js = js
        self._kv = kv
        self._bucket = settings.pictures_bucket
        self._subscribe = channel.unary_stream(
            SUBSCRIBE, request_serializer=filer_pb2.SubscribeMetadataRequest.SerializeToString,
            response_deserializer=filer_pb2.SubscribeMetadataResponse.FromString)
        self.position = 0  # every event up to here was published
        self._stored = 0  # the position NATS KV holds
        self._moved = asyncio.Event()
        self.connected = asyncio.Event()
        # The filer keeps a stream open only for a client with an id (with id 0 it sends what
        # it has and ends); a new epoch replaces this client's earlier stream.
        self._client_id = secrets.randbelow(2**31 - 1) + 1
        self._epoch = 0
        self._call: Any = None

    async def load_position(self) -> int:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._kv.get(position_key(self._bucket))
        except KeyNotFoundError:
            return 0
        return int(bytes(entry.value or b"0").decode() or 0)

    async def run(self, stop: asyncio.Event) -> None:
        self.position = self._stored = await self.load_position()
        keeper = asyncio.create_task(self._keep_position())
        try:
            await self._follow_until(stop)
        finally:
            await _cancelled(keeper)
            await self._store_last_position()

    async def _follow_until(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            follow = asyncio.create_task(self._follow())
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({follow, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if follow not in done:
                await self._stop_following(follow)
                return
            exc = follow.exception()
            self.connected.clear()
            failures = failures + 1 if exc is not None else 0
            delay = RETRY_S[min(failures, len(RETRY_S)) - 1] if failures else RETRY_S[0]
            log.warning("the filer log stream ended (%r); following again from %d in %.1f s",
                        exc, self.position, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _stop_following(self, follow: asyncio.Task[None]) -> None:
        # Cancel the gRPC call itself: a task cancelled while it iterates a grpc.aio stream can
        # stay blocked (seen here: stop hung until the test timed out).
        if self._call is not None:
            self._call.cancel()
        follow.cancel()
        done, _ = await asyncio.wait({follow}, timeout=STOP_GRACE_S)
        if not done:
            log.warning("the filer stream did not close within %.0f s", STOP_GRACE_S)
        elif not follow.cancelled() and follow.exception() is not None:
            log.info("the filer stream ended on stop: %r", follow.exception())

    async def _follow(self) -> None:
        self._epoch += 1
        request = filer_pb2.SubscribeMetadataRequest(
            client_name=CLIENT_NAME, path_prefix=bucket_dir(self._bucket) + "/",
            since_ns=self.position + 1, client_id=self._client_id, client_epoch=self._epoch)
        call = self._call = self._subscribe(request)
        self.connected.set()
        log.info("following %s's filer log from %d", self._bucket, self.position)
        async for resp in call:
            await self.forward(resp)

    async def forward(self, resp: filer_pb2.SubscribeMetadataResponse) -> None:
        """Publish what one filer entry means, then (only then) move the position past it.

        Every entry is published, even one stamped before the entry ahead of it: the filer
        stamps an event before the write joins its log and sends that stamp (it bumps only the
        log's own copy), so concurrent writes can arrive out of stamp order (measured: 5 of
        3,000 concurrent PUTs). Skipping those as "already handled" lost uploads until the
        reconciler replayed them. A repeat after a resubscription has the same message id, and
        JetStream drops it. The position is the largest stamp seen: an entry not yet handled
        comes later in the log, whose time for it is above every earlier entry's stamp, so
        following again from there repeats, never skips."""
        try:
            notifications = to_notifications(resp, self._bucket,
                                             first_address(self._settings.s3_endpoint))
        except MalformedFilerEvent as exc:
            log.error("a filer event that cannot be read is set aside: %s", exc)
            await self._until_published(self._dead_letter_subject(), json.dumps({
                "consumer": CONSUMER, "subject": subject_for(self._bucket),
                "picture_id": None, "step": "register", "error": str(exc), "deliveries": 1,
                "failed_at": utcnow().isoformat(), "malformed": True,
                "event": {"ts_ns": resp.ts_ns, "directory": resp.directory},
            }).encode(), f"dead:{CONSUMER}:{resp.ts_ns}")
            notifications = []
        for notification in notifications:
            await self._publish(notification, resp.ts_ns)
        self.position = max(self.position, resp.ts_ns)
        self._moved.set()

    async def _publish(self, notification: Notification, ts_ns: int) -> None:
        """One storage event, in a span that starts when the filer wrote the entry: the trace
        of the upload (its traceparent travels as the object's user metadata) continues here."""
        body = notification.body
        encoded = json.dumps(body).encode()
        [event] = parse(encoded)
        with tracer.start_as_current_span(
                f"storage event {body['EventName']}", kind=SpanKind.PRODUCER, start_time=ts_ns,
                context=extracted(None, event.user_metadata.get("traceparent", "")),
                attributes={PICTURE_ATTRIBUTE: picture_id_for_key(event.key),
                            "messaging.system": "nats",
                            "messaging.destination.name": subject_for(self._bucket)}):
            await self._until_published(subject_for(self._bucket), encoded, notification.msg_id)
        log.info("%s %s", body["EventName"], body["Key"])

    def _dead_letter_subject(self) -> str:
        return dead_letter_subject(self._settings, CONSUMER)

    async def _until_published(self, subject: str, body: bytes, msg_id: str) -> None:
        headers = nats_headers({"Nats-Msg-Id": msg_id})
        await _forever(f"publishing to {subject}", lambda: self._js.publish(
            subject, body, headers=headers))

    async def _keep_position(self) -> None:
        """Store the position a second after it first moved (and so on while it moves)."""
        while True:
            await self._moved.wait()
            await asyncio.sleep(POSITION_EVERY_S)
            self._moved.clear()
            position = self.position
            await _forever("storing the position", functools.partial(self._store, position))

    async def _store(self, position: int) -> None:
        await self._kv.put(position_key(self._bucket), str(position).encode())
        self._stored = position

    async def _store_last_position(self) -> None:
        """On stop: one try, bounded (NATS may be what is going away)."""
        if self.position == self._stored:
            return
        try:
            await asyncio.wait_for(self._store(self.position), STOP_GRACE_S)
        except Exception as exc:
            log.warning("the position %d could not be stored on stop (%r): the events after %d "
                        "will be published again (JetStream drops the repeats)",
                        self.position, exc, self._stored)


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and see it end. Python 3.11's ``wait_for`` (under the KV write) can lose a
    cancel that arrives as the write completes: the keeper then goes back to waiting for the
    next move, so it is cancelled again until it ends (awaiting it once hung a stop for good)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)


async def _forever(what: str, action: Callable[[], Awaitable[Any]]) -> None:
    """Try until it succeeds: the position never moves past what did not happen."""
    attempt = 0
    while True:
        try:
            await action()
            return
        except Exception as exc:
            delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
            attempt += 1
            log.warning("%s failed (%r); again in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)


def filer_channel(settings: Settings) -> Any:
    """A channel to the filer's gRPC: mutual TLS with the run's client certificate when the
    store has TLS material (the stack's), else plain (a test's bare server). Several filers
    (``seaweedfs_filer_grpc`` comma-separated, for filers sharing one store) are one channel:
    gRPC's pick_first keeps to one and goes on to the next when it is lost. The local cluster
    runs one filer (``infra.seaweedfs.parts`` says why)."""
    import grpc

    filers = address_list(settings.seaweedfs_filer_grpc)
    target = filers[0] if len(filers) == 1 else "ipv4:" + ",".join(filers)
    options = [] if len(filers) == 1 else [("grpc.ssl_target_name_override", "localhost")]
    folder = settings.storage_tls_dir()
    if not (folder / "ca.crt").exists():
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(
        root_certificates=(folder / "ca.crt").read_bytes(),
        private_key=(folder / "client.key").read_bytes(),
        certificate_chain=(folder / "client.crt").read_bytes()), options=options)


async def main(settings: Settings, stop: asyncio.Event) -> None:

    from picadaily.nats_util import close_nats, connect_nats
    from picadaily.runtime import announce_ready
    from picadaily.streams import open_kv, provision_streams

    nc = await connect_nats(settings, "seaweedfs-source")
    try:
        js = nc.jetstream()
        await provision_streams(js, settings)
        async with filer_channel(settings) as channel:
            source = SeaweedfsSource(settings, js, await open_kv(js, settings), channel)
            announce_ready(f"storage events of {settings.pictures_bucket} from the filer at "
                           f"{settings.seaweedfs_filer_grpc}")
            await source.run(stop)
    finally:
        await close_nats(nc)

