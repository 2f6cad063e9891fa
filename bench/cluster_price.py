"""What the cluster costs (``make bench``'s cluster variant): the clustered stack
(``picadaily up --cluster``) measured as the single-node one is — p50 one picture at a time, CPU
per picture in a burst — and what only it has: JetStream's publish latency on a stream of one
replica against one of three, and the memory the whole cluster holds while idle."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Any

from bench.cluster_chaos import CLUSTER_ENV
from bench.common import temporary_stack
from bench.procs import rss_by_process, usage
from bench.stack_modes import ModeResult, measure_burst, measure_latency
from picadaily.nats_util import close_nats, connect_nats
from picadaily.settings import MODES, Settings

log = logging.getLogger("bench.cluster_price")
PUBLISHES = 400
SETTLE_S = 10.0


def measure_cluster(latency_set: list[tuple[str, bytes]],
                    burst_set: list[tuple[str, bytes]]) -> tuple[dict[str, ModeResult],
                                                                dict[str, Any]]:
    """Each mode on the clustered stack, and the cluster's own figures."""
    modes: dict[str, ModeResult] = {}
    with temporary_stack(CLUSTER_ENV, "bench-cluster") as stack:
        assert stack.proc is not None
        log.info("cluster stack started in %.1f s", stack.start_seconds)
        time.sleep(SETTLE_S)
        idle = usage(stack.proc.pid)
        extra: dict[str, Any] = {
            "start_s": round(stack.start_seconds, 1),
            "idle_rss_mb": round(idle.rss_mb),
            "idle_rss_mb_by_process": {name: round(mb) for name, mb in sorted(
                rss_by_process(stack.proc.pid).items(), key=lambda kv: -kv[1]) if mb >= 1},
            "publish_ms": asyncio.run(publish_latency(stack.settings())),
        }
        for mode in MODES:
            modes[mode] = measure_latency(stack, mode, latency_set)
        for mode in MODES:
            measure_burst(stack, mode, burst_set, modes[mode])
    return modes, extra


async def publish_latency(settings: Settings) -> dict[str, dict[str, float]]:
    """Publishing to JetStream and waiting for its acknowledgement, one message after the
    other, on a stream of one replica and on one of three (file storage, like ours)."""
    from nats.js.api import StorageType, StreamConfig

    nc = await connect_nats(settings, "bench-publish")
    out: dict[str, dict[str, float]] = {}
    try:
        js = nc.jetstream()
        for replicas in (1, 3):
            name = f"BENCH_R{replicas}"
            await js.add_stream(StreamConfig(name=name, subjects=[f"bench.r{replicas}"],
                                             num_replicas=replicas, storage=StorageType.FILE))
            body = b"x" * 600  # (about one of our events)
            times = []
            for _ in range(PUBLISHES):
                t0 = time.perf_counter()
                await js.publish(f"bench.r{replicas}", body)
                times.append(1000 * (time.perf_counter() - t0))
            await js.delete_stream(name)
            times.sort()
            out[f"R{replicas}"] = {"p50": round(statistics.median(times), 3),
                                   "p99": round(times[int(0.99 * len(times))], 3)}
    finally:
        await close_nats(nc)
    return out
