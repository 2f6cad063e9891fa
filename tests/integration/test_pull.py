"""The continuous pull (picadaily/pull.py) against a real NATS server: a stream and a durable
consumer per test."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from picadaily.pull import ContinuousPull

WAIT_S = 20.0  # an upper bound for "eventually", never a measurement


class Consumer:
    """A stream with one subject and one durable pull consumer of it."""

    def __init__(self, nc: Any, js: Any) -> None:
        tag = uuid.uuid4().hex[:8]
        self.nc, self.js = nc, js
        self.stream, self.subject, self.durable = f"PULL_{tag}", f"pull.{tag}", f"d-{tag}"

    async def create(self) -> None:
        await self.js.add_stream(StreamConfig(name=self.stream, subjects=[self.subject]))
        await self.js.add_consumer(self.stream, ConsumerConfig(
            durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30))

    async def publish(self, *numbers: int) -> None:
        for n in numbers:
            await self.js.publish(self.subject, json.dumps(n).encode())


@pytest.fixture
async def consumer(nats_url: str) -> AsyncIterator[Consumer]:
    nc = await nats.connect(nats_url)
    c = Consumer(nc, nc.jetstream())
    await c.create()
    try:
        yield c
    finally:
        await c.js.delete_stream(c.stream)
        await nc.close()


class Seen:
    """A handler that acknowledges each message and keeps the numbers it carried."""

    def __init__(self) -> None:
        self.numbers: list[int] = []

    async def __call__(self, msg: Any) -> None:
        self.numbers.append(json.loads(msg.data))
        await msg.ack()


def _start(nc: Any, consumer: Consumer, handle: Any, slots: int,
           expires_s: float) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    pull = ContinuousPull(nc, consumer.stream, consumer.durable, handle, slots=slots,
                          expires_s=expires_s)
    return stop, asyncio.create_task(pull.run(stop))


async def _until(condition: Any) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 (the handlers run in the same loop)
            await asyncio.sleep(0.01)


async def test_one_message_is_handled_without_waiting_for_a_full_batch(
        consumer: Consumer) -> None:
    seen = Seen()
    # a long request: only "each message when it comes" can pass the waits below
    stop, running = _start(consumer.nc, consumer, seen, slots=8, expires_s=60)
    await consumer.publish(1)
    await _until(lambda: seen.numbers == [1])
    await consumer.publish(2)
    await _until(lambda: seen.numbers == [1, 2])
    stop.set()
    await running
    # (the server applies an ack on the consumer's own queue, after it may have answered an
    # info request sent just behind it: seen once with the second ack still counted)
    async with asyncio.timeout(WAIT_S):
        while True:
            info = await consumer.js.consumer_info(consumer.stream, consumer.durable)
            if info.num_ack_pending == 0 and info.num_pending == 0:
                break
            await asyncio.sleep(0.05)


async def test_never_more_in_hand_than_its_slots_and_each_message_once(
        consumer: Consumer) -> None:
    in_hand, most, seen = 0, 0, []
    release = asyncio.Event()

    async def handle(msg: Any) -> None:
        nonlocal in_hand, most
        in_hand += 1
        most = max(most, in_hand)
        await release.wait()
        seen.append(json.loads(msg.data))
        await msg.ack()
        in_hand -= 1

    stop, running = _start(consumer.nc, consumer, handle, slots=3, expires_s=1)
    await consumer.publish(*range(20))
    await _until(lambda: in_hand == 3)
    await asyncio.sleep(0.3)  # more would have arrived by now if it asked for more
    assert in_hand == 3
    release.set()
    await _until(lambda: len(seen) == 20)
    stop.set()
    await running
    assert most == 3 and sorted(seen) == list(range(20))


async def test_it_asks_again_after_each_request_expires(consumer: Consumer) -> None:
    requests: list[dict[str, Any]] = []

    async def count(msg: Any) -> None:
        requests.append(json.loads(msg.data))

    watch = await consumer.nc.subscribe(
        f"$JS.API.CONSUMER.MSG.NEXT.{consumer.stream}.{consumer.durable}", cb=count)
    seen = Seen()
    stop, running = _start(consumer.nc, consumer, seen, slots=4, expires_s=0.2)
    await _until(lambda: len(requests) >= 4)  # three expired, and asked again each time
    await consumer.publish(7)
    await _until(lambda: seen.numbers == [7])
    stop.set()
    await running
    await watch.unsubscribe()
    assert all(r["batch"] == 4 and r["expires"] == 200_000_000 for r in requests)


async def test_stopping_waits_for_the_messages_in_hand(consumer: Consumer) -> None:
    started, finished = asyncio.Event(), []

    async def handle(msg: Any) -> None:
        started.set()
        await asyncio.sleep(0.3)
        await msg.ack()
        finished.append(json.loads(msg.data))

    stop, running = _start(consumer.nc, consumer, handle, slots=2, expires_s=5)
    await consumer.publish(5)
    await asyncio.wait_for(started.wait(), WAIT_S)
    stop.set()
    await running
    assert finished == [5]


async def test_a_deleted_consumer_is_pulled_from_again_once_it_is_back(
        consumer: Consumer) -> None:
    seen = Seen()
    stop, running = _start(consumer.nc, consumer, seen, slots=4, expires_s=0.5)
    await consumer.publish(1)
    await _until(lambda: seen.numbers == [1])
    await consumer.js.delete_consumer(consumer.stream, consumer.durable)
    await asyncio.sleep(1.0)  # the open request is cut short (409) or lost: it goes on asking
    assert not running.done()
    await consumer.create()  # deliver-all again: 1 comes back, then 2
    await consumer.publish(2)
    await _until(lambda: seen.numbers == [1, 1, 2])
    stop.set()
    await running


async def test_after_a_server_restart_it_asks_again_without_waiting_for_expiry(
        tmp_path: Path) -> None:
    from cli.ports import free_port
    from cli.stack import binary
    from picadaily.nats_util import connect_nats
    from picadaily.settings import Settings
    from tests.servers import process

    port = free_port()
    argv = [binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd",
            str(tmp_path / "nats")]
    seen = Seen()
    with process(argv, port, tmp_path / "nats-1.log", name="nats-server"):
        nc = await connect_nats(Settings(nats_url=f"nats://127.0.0.1:{port}"), "pull-test")
        consumer = Consumer(nc, nc.jetstream())
        await consumer.create()
        # a request that outlives the test: only asking again on reconnection can bring 2
        stop, running = _start(nc, consumer, seen, slots=4, expires_s=600)
        await consumer.publish(1)
        await _until(lambda: seen.numbers == [1])
    with process(argv, port, tmp_path / "nats-2.log", name="nats-server"):
        async with asyncio.timeout(WAIT_S):  # JetStream takes a moment to be back
            while True:
                try:
                    await consumer.js.publish(consumer.subject, b"2", timeout=1,
                                              headers={"Nats-Msg-Id": "two"})
                    break
                except Exception:  # not back yet
                    await asyncio.sleep(0.2)
        await _until(lambda: seen.numbers == [1, 2])
        stop.set()
        await running
        await nc.close()
