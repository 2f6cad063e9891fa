"""Our JetStream pull protocol (``picadaily.pull.ContinuousPull``) against FastStream's pull
subscriber and nats-py's own ``fetch`` loop, on one real NATS server: what each costs per
delivered message (consumer CPU, server CPU) and how long a message waits for its consumer.

``make pull-compare`` (``python -m bench.pull_compare [MESSAGES]``). Each consumer runs in a
process of its own (its CPU measured there) on a durable consumer with explicit acks, as the
pipeline's; the publisher sends the messages one at a time at a pipeline's pace (``RATE`` a
second: a picture is a handful of events), then as one burst. Prints a table and saves
``bench/results/pull-compare-<date>.json``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
STREAM, SUBJECT = "CMP", "cmp.events"
RATE = 200  # messages a second in the paced run
SLOTS = 8  # messages in hand at once (the pipeline's BATCH)
VARIANTS = ("ours", "faststream", "fetch")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _consume(variant: str, url: str, durable: str, count: int,
                   ready_file: Path) -> dict[str, Any]:
    """Consume ``count`` messages, ack each; the CPU this process spent and each wait (from
    the moment it said it is ready, in ``ready_file``)."""
    waits: list[float] = []
    done = asyncio.Event()

    def seen(body: bytes) -> None:
        waits.append(time.time() - json.loads(body)["sent"])
        if len(waits) >= count:
            done.set()

    if variant == "faststream":
        from faststream.nats import NatsBroker, PullSub

        broker = NatsBroker(url, log_level=logging.WARNING)

        # (acked after the handler returns: FastStream's default policy)
        @broker.subscriber(SUBJECT, stream=STREAM, durable=durable,
                           pull_sub=PullSub(batch_size=SLOTS, timeout=5.0))
        async def handle(body: dict[str, Any]) -> None:
            seen(json.dumps(body).encode())

        await broker.start()
        await asyncio.sleep(0.5)  # its first pull request is out
        ready = _cpu_s()
        await asyncio.to_thread(ready_file.write_text, "ready")
        await done.wait()
        await broker.stop()
    else:
        import nats

        from picadaily.pull import ContinuousPull

        nc = await nats.connect(url)
        stop = asyncio.Event()
        if variant == "ours":
            async def one(msg: Any) -> None:
                seen(msg.data)
                await msg.ack()

            pull = ContinuousPull(nc, STREAM, durable, one, slots=SLOTS)
            task = asyncio.create_task(pull.run(stop))
        else:  # nats-py's fetch loop, each batch handled before the next fetch
            sub = await nc.jetstream().pull_subscribe_bind(durable, stream=STREAM)

            async def loop() -> None:
                while not stop.is_set():
                    try:
                        batch = await sub.fetch(SLOTS, timeout=5.0)
                    except TimeoutError:
                        continue
                    for msg in batch:
                        seen(msg.data)
                    await asyncio.gather(*(m.ack() for m in batch))

            task = asyncio.create_task(loop())
        await asyncio.sleep(0.5)  # its first pull request is out
        ready = _cpu_s()
        await asyncio.to_thread(ready_file.write_text, "ready")
        await done.wait()
        stop.set()
        task.cancel()
        await nc.close()
    return {"cpu_s": _cpu_s() - ready, "waits": waits}


def _server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _prepare(url: str, durable: str) -> None:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    await js.purge_stream(STREAM)  # each run's consumer sees its own messages only
    await js.add_consumer(STREAM, ConsumerConfig(durable_name=durable,
                                                 ack_policy=AckPolicy.EXPLICIT, ack_wait=6,
                                                 max_ack_pending=256))
    await nc.close()


async def _publish(url: str, count: int, rate: float | None) -> None:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    for _ in range(count):
        await js.publish(SUBJECT, json.dumps({"sent": time.time()}).encode())
        if rate:
            await asyncio.sleep(1 / rate)
    await nc.close()


def _run(variant: str, url: str, server_pid: int, count: int, rate: float | None,
         n: int) -> dict[str, Any]:
    durable = f"{variant}-{n}"
    asyncio.run(_prepare(url, durable))
    out = Path(tempfile.mkdtemp()) / "consumed.json"
    consumer = subprocess.Popen(
        [sys.executable, "-m", "bench.pull_compare", "--consume", variant, url, durable,
         str(count), str(out)], stdout=subprocess.DEVNULL)
    ready = out.with_suffix(".ready")
    deadline = time.monotonic() + 60
    while not ready.exists():  # connected, its pull request out
        if time.monotonic() > deadline or consumer.poll() is not None:
            raise RuntimeError(f"the {variant} consumer did not start")
        time.sleep(0.05)
    server0 = _server_cpu_s(server_pid)
    asyncio.run(_publish(url, count, rate))
    consumer.wait(timeout=120)
    server = _server_cpu_s(server_pid) - server0
    measured = json.loads(out.read_text())
    waits = sorted(measured["waits"])
    return {"variant": variant, "messages": count, "rate": rate or "burst",
            "consumer_cpu_us_per_message": round(measured["cpu_s"] / count * 1e6, 1),
            "server_cpu_us_per_message": round(server / count * 1e6, 1),
            "wait_ms_p50": round(statistics.median(waits) * 1000, 2),
            "wait_ms_p95": round(waits[int(0.95 * (len(waits) - 1))] * 1000, 2)}


def main(count: int = 2000) -> None:
    from cli.ports import free_port
    from cli.stack import binary

    port = free_port()
    with tempfile.TemporaryDirectory() as store:
        server = subprocess.Popen([binary("nats-server"), "-a", "127.0.0.1", "-p", str(port),
                                   "-js", "-sd", store], stderr=subprocess.DEVNULL,
                                  env={**os.environ, "GOMAXPROCS": "1"})
        try:
            time.sleep(1.0)
            url = f"nats://127.0.0.1:{port}"
            rows = [_run(v, url, server.pid, count, rate, i)
                    for i, (rate, v) in enumerate((r, v) for r in (RATE, None)
                                                  for v in VARIANTS)]
        finally:
            server.terminate()
            server.wait()
    header = f"{'variant':<11} {'pace':>6} {'consumer µs/msg':>16} {'server µs/msg':>14} " \
             f"{'wait p50 ms':>12} {'wait p95 ms':>12}"
    lines = [header] + [
        f"{r['variant']:<11} {r['rate']!s:>6} {r['consumer_cpu_us_per_message']:>16} "
        f"{r['server_cpu_us_per_message']:>14} {r['wait_ms_p50']:>12} {r['wait_ms_p95']:>12}"
        for r in rows]
    log.info("\n%s", "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pull-compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"messages": count, "slots": SLOTS, "rows": rows}, indent=1))
    log.info("saved %s", path)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--consume"]:
        variant, url, durable, count, out = sys.argv[2:7]
        result = asyncio.run(_consume(variant, url, durable, int(count),
                                      Path(out).with_suffix(".ready")))
        Path(out).write_text(json.dumps(result))
    else:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
