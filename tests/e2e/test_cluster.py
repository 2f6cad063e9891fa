"""The NATS tier as a cluster (``picadaily up --cluster``'s): three servers, each on a loopback
address of its own, every stream and the KV bucket on all three. A burst of uploads in each mode
while the server leading the events stream is killed -9: every upload is accepted (none refused
while one server is down), every picture ends done, and the streams keep three replicas once the
server is back. Figures (the wait from the kill to the last final status) in
``test-artifacts/cluster.json``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.stack import nats_process_of_server
from harness.stack import RunningStack, wait_until
from picadaily.nats_util import close_nats, connect_nats
from tests.e2e.test_durability import ARTIFACTS, burst_with_a_kill

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)
SERVERS = 3
CLUSTER_BURST = 40  # (the durability drills' 100 prove the volume; this, the fail-over)


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = RunningStack(tmp_path_factory.mktemp("cluster") / "home", {
        "PICADAILY_NATS_SERVERS": str(SERVERS), "PICADAILY_STREAM_REPLICAS": str(SERVERS)})
    stack.start()
    try:
        yield stack
    finally:
        if stack.proc:
            stack.discard()


def streams(stack: RunningStack) -> dict[str, Any]:
    """Each stream's replica count, leader (as the runner names its process) and how many of
    its replicas are current."""
    settings = stack.settings()

    async def ask() -> dict[str, Any]:
        nc = await connect_nats(settings, "test")
        try:
            js = nc.jetstream()
            out = {}
            for name in (settings.events_stream, settings.storage_stream,
                         f"KV_{settings.kv_bucket}"):
                info = await js.stream_info(name)
                cluster = info.cluster
                assert cluster is not None
                current = [r for r in cluster.replicas or [] if r.current]
                out[name] = {"replicas": info.config.num_replicas,
                             "leader": nats_process_of_server(cluster.leader or ""),
                             "current_followers": len(current)}
            return out
        finally:
            await close_nats(nc)

    return asyncio.run(ask())


def test_every_stream_and_the_kv_bucket_are_on_all_three_servers(
        cluster_stack: RunningStack) -> None:
    for name, stream in streams(cluster_stack).items():
        assert stream["replicas"] == SERVERS, name
        assert stream["current_followers"] == SERVERS - 1, name


@pytest.mark.parametrize("mode", ["choreography", "orchestration"])
def test_killing_the_events_stream_s_leader_mid_burst_refuses_and_loses_nothing(
        cluster_stack: RunningStack, mode: str) -> None:
    events = cluster_stack.settings().events_stream
    leader = streams(cluster_stack)[events]["leader"]
    result = burst_with_a_kill(cluster_stack, leader, mode, burst=CLUSTER_BURST)
    assert result["refused"] == 0, result
    # back to three current replicas once the killed server is back
    wait_until(lambda: all(s["current_followers"] == SERVERS - 1
                           for s in streams(cluster_stack).values()),
               timeout=60, what="every stream current on all three servers again",
               tolerate=(Exception,))
    result["new_leader"] = streams(cluster_stack)[events]["leader"]
    log.info("cluster: %s", result)
    ARTIFACTS.mkdir(exist_ok=True)
    path = Path(ARTIFACTS) / "cluster.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[mode] = result
    path.write_text(json.dumps(saved, indent=2))
