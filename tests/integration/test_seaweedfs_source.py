"""The SeaweedFS storage-event source against a real SeaweedFS and a real NATS server: MinIO's
format exactly, and a position that survives a restart (nothing lost, nothing twice)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from functions.seaweedfs.events import bucket_dir
from functions.seaweedfs.source import POSITION_EVERY_S, SeaweedfsSource, position_key
from picadaily.nats_util import close_nats
from picadaily.settings import Settings
from picadaily.storage import S3ObjectStore, s3_client
from picadaily.storage_events import parse, subject_for
from picadaily.streams import open_kv, provision_streams
from tests.filer_events import entry, response

from .test_bridge import shape

DATA = Path(__file__).resolve().parents[1] / "data"
CONCURRENT_PUTS = 3000


class Running:
    def __init__(self, settings: Settings, js: Any, sub: Any) -> None:
        self.settings, self.js, self.sub = settings, js, sub
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.source: SeaweedfsSource | None = None

    async def start(self, channel: Any) -> None:
        self.stop = asyncio.Event()
        self.source = SeaweedfsSource(self.settings, self.js,
                                      await open_kv(self.js, self.settings), channel)
        self.task = asyncio.create_task(self.source.run(self.stop))

    async def halt(self) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task

    async def events(self, count: int, quiet_s: float = 1.0) -> list[dict[str, Any]]:
        """``count`` events, then make sure no more arrive for ``quiet_s``."""
        got: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(got) < count and loop.time() < deadline:
            try:
                got.append(json.loads((await self.sub.next_msg(timeout=0.2)).data))
            except TimeoutError:
                continue
        with pytest.raises(TimeoutError):
            extra = await self.sub.next_msg(timeout=quiet_s)
            got.append(json.loads(extra.data))
        assert len(got) == count, [e["EventName"] + " " + e["Key"] for e in got]
        return got


@pytest.fixture
async def running(provisioned: Settings) -> AsyncIterator[tuple[Running, Any]]:
    nc = await nats.connect(provisioned.nats_url)
    try:
        js = nc.jetstream()
        await provision_streams(js, provisioned)
        sub = await js.subscribe(subject_for(provisioned.pictures_bucket),
                                 stream=provisioned.storage_stream,
                                 config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL,
                                                       ack_policy=AckPolicy.NONE))
        async with grpc.aio.insecure_channel(provisioned.seaweedfs_filer_grpc) as channel:
            run = Running(provisioned, js, sub)
            yield run, channel
            if run.task and not run.task.done():
                await run.halt()
    finally:
        await close_nats(nc)


async def test_created_and_removed_events_are_minio_events(
        running: tuple[Running, Any]) -> None:
    run, channel = running
    settings = run.settings
    s3 = s3_client(settings)
    key = "holiday photo.jpg"
    put = s3.put_object(Bucket=settings.pictures_bucket, Key=key, Body=b"\xff\xd8 not really",
                  ContentType="image/jpeg",
                  Metadata={"filename": "holiday%20photo.jpg", "mode": "choreography"})
    s3.delete_object(Bucket=settings.pictures_bucket, Key=key)
    await run.start(channel)
    created, removed = await run.events(2)

    sample_created = json.loads((DATA / "minio_event_created.json").read_text())
    sample_removed = json.loads((DATA / "minio_event_removed.json").read_text())
    user_metadata = created["Records"][0]["s3"]["object"].pop("userMetadata")
    sample_created["Records"][0]["s3"]["object"].pop("userMetadata")
    assert shape(created) == shape(sample_created)
    assert shape(removed) == shape(sample_removed)
    created["Records"][0]["s3"]["object"]["userMetadata"] = user_metadata
    assert created["EventName"] == "s3:ObjectCreated:Put"
    assert created["Key"] == f"{settings.pictures_bucket}/{key}"
    obj = created["Records"][0]["s3"]["object"]
    assert obj["key"] == "holiday+photo.jpg"  # URL-escaped, as MinIO does
    assert (obj["size"], obj["contentType"]) == (len(b"\xff\xd8 not really"), "image/jpeg")
    assert obj["eTag"] == put["ETag"].strip('"')
    assert obj["userMetadata"] == {"content-type": "image/jpeg",
                                   "X-Amz-Meta-Filename": "holiday%20photo.jpg",
                                   "X-Amz-Meta-Mode": "choreography"}
    assert removed["EventName"] == "s3:ObjectRemoved:Delete"
    assert set(removed["Records"][0]["s3"]["object"]) == {"key", "sequencer"}
    # The trigger reads them as it reads MinIO's own.
    [c], [r] = parse(json.dumps(created).encode()), parse(json.dumps(removed).encode())
    assert (c.kind, c.key, c.user_metadata) == (
        "created", key, {"filename": "holiday%20photo.jpg", "mode": "choreography"})
    assert (r.kind, r.key) == ("removed", key)


async def test_keys_of_every_kind_arrive_as_they_were_put(running: tuple[Running, Any]) -> None:
    run, channel = running
    s3 = s3_client(run.settings)
    keys = ["a/b/c.jpg", "日本の写真" * 12 + ".jpg", "x+y=z & 100%.png", ".hidden"]
    for key in keys:
        s3.put_object(Bucket=run.settings.pictures_bucket, Key=key, Body=b"x",
                      ContentType="image/png")
    await run.start(channel)
    events = await run.events(len(keys))
    assert [parse(json.dumps(e).encode())[0].key for e in events] == keys


async def test_a_restarted_source_resumes_from_its_position_losing_and_repeating_nothing(
        running: tuple[Running, Any]) -> None:
    run, channel = running
    settings = run.settings
    s3 = s3_client(settings)

    def put(key: str) -> None:
        s3.put_object(Bucket=settings.pictures_bucket, Key=key, Body=b"x",
                      ContentType="image/jpeg")

    put("one")
    put("two")
    await run.start(channel)
    assert [e["Key"] for e in await run.events(2)] == [
        f"{settings.pictures_bucket}/{k}" for k in ("one", "two")]
    await run.halt()
    put("three")  # while the source is down
    s3.delete_object(Bucket=settings.pictures_bucket, Key="one")
    await run.start(channel)
    later = await run.events(2)
    assert [(e["EventName"], e["Key"]) for e in later] == [
        ("s3:ObjectCreated:Put", f"{settings.pictures_bucket}/three"),
        ("s3:ObjectRemoved:Delete", f"{settings.pictures_bucket}/one")]
    await run.halt()

    # Killed after JetStream acknowledged but before the position was stored: the same events
    # are published again, and JetStream drops them by their message id.
    kv = await open_kv(run.js, settings)
    await kv.put(position_key(settings.pictures_bucket), b"0")
    await run.start(channel)
    await run.events(0, quiet_s=2.0)
    info = await run.js.stream_info(settings.storage_stream)
    assert info.state.messages == 4


async def test_the_position_is_stored_once_a_second_while_events_flow_and_at_once_on_stop(
        running: tuple[Running, Any]) -> None:
    run, channel = running
    settings = run.settings
    s3 = s3_client(settings)
    kv = await open_kv(run.js, settings)
    kv_stream = f"KV_{settings.kv_bucket}"
    await run.start(channel)
    assert run.source is not None
    await asyncio.wait_for(run.source.connected.wait(), 10)
    writes_before = (await run.js.stream_info(kv_stream)).state.last_seq
    for i in range(20):
        s3.put_object(Bucket=settings.pictures_bucket, Key=f"burst-{i}", Body=b"x",
                      ContentType="image/jpeg")
    await run.events(20, quiet_s=0.2)
    async def stored_position() -> int:
        try:
            stored = await kv.get(position_key(settings.pictures_bucket))
        except nats.js.errors.KeyNotFoundError:
            return 0
        return int(bytes(stored.value or b"0"))

    # written within a period of POSITION_EVERY_S (a deadline of ten of them)
    deadline = asyncio.get_running_loop().time() + 10 * POSITION_EVERY_S
    while await stored_position() != run.source.position:
        assert asyncio.get_running_loop().time() < deadline, "the position was not stored"
        await asyncio.sleep(0.05)
    assert run.source.position > 0
    # a burst of twenty events, a write or two of the position (not one per event)
    writes = (await run.js.stream_info(kv_stream)).state.last_seq - writes_before
    assert 1 <= writes < 10
    # stopped before its next write is due: the position is stored on the way out
    s3.put_object(Bucket=settings.pictures_bucket, Key="last", Body=b"x",
                  ContentType="image/jpeg")
    await run.events(1, quiet_s=0.1)
    moved_to = run.source.position
    await run.halt()
    stored = await kv.get(position_key(settings.pictures_bucket))
    assert int(bytes(stored.value or b"0")) == moved_to


async def test_an_event_stamped_before_the_one_ahead_of_it_is_published_too(
        running: tuple[Running, Any]) -> None:
    """The filer stamps an event before the write joins its log and sends that stamp, so
    concurrent writes can arrive out of stamp order; none of them is taken for a repeat."""
    run, channel = running
    settings = run.settings
    source = SeaweedfsSource(settings, run.js, await open_kv(run.js, settings), channel)
    now = time.time_ns()
    directory = bucket_dir(settings.pictures_bucket)
    later = response(directory, new=entry("later.jpg"), ts=now)
    earlier = response(directory, new=entry("earlier.jpg"), ts=now - 1_000)
    await source.forward(later)
    await source.forward(earlier)
    assert [e["Key"] for e in await run.events(2, quiet_s=0.2)] == [
        f"{settings.pictures_bucket}/later.jpg", f"{settings.pictures_bucket}/earlier.jpg"]
    assert source.position == now  # following again from here repeats nothing it skipped
    await source.forward(earlier)  # a true repeat (after a resubscription): dropped by its id
    await run.events(0, quiet_s=0.5)


async def test_every_one_of_many_concurrent_puts_arrives_once(
        running: tuple[Running, Any]) -> None:
    """Real concurrent PUTs (the filer's stamps then arrive out of order now and then: 5 of
    3,000 here with the store on two threads, as in this test) are each published once."""
    run, channel = running
    settings = run.settings
    store = S3ObjectStore.from_settings(settings)
    await run.start(channel)
    keys = [f"concurrent-{i:04d}" for i in range(CONCURRENT_PUTS)]

    def put(key: str) -> None:
        store.put(settings.pictures_bucket, key, b"x", "image/jpeg")

    with ThreadPoolExecutor(16) as pool:
        await asyncio.get_running_loop().run_in_executor(None, lambda: list(pool.map(put, keys)))
    events = await run.events(len(keys), quiet_s=0.5)
    assert sorted(e["Key"] for e in events) == [f"{settings.pictures_bucket}/{k}" for k in keys]
