"""``picadaily up --cluster`` (``picadaily.settings.CLUSTER``): NATS as three servers, every
stream and the KV bucket on all three; SeaweedFS as three masters and volume servers, every
object on two of them (replication 001), the filer and two S3 gateways; PostgreSQL as a
primary and a synchronous standby under Patroni; two of each of our processes. Each server on a
loopback address of its own.

Then the cluster drill's short form (``bench.cluster_chaos``; ``make cluster-chaos`` runs every
tier, killed and cut off, in both modes): a burst of uploads with deletions in choreography
while the NATS server leading the events stream is cut off for 15 s, and in orchestration while
the PostgreSQL primary's node is killed -9. Every check of the chaos run holds (every 202 final
exactly once, done with image, thumbnail and labels, nothing stuck, no orphan, deletions done),
no upload is refused while the server is away, and its tier has a new leader. Figures in
``test-artifacts/cluster.json``."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.chaos import Chaos
from bench.cluster_chaos import CLUSTER_ENV, drill
from harness.cluster import database_primary, stream_states
from harness.netcut import unavailable
from harness.stack import RunningStack, wait_until
from infra import etcd, patroni
from picadaily.settings import CLUSTER
from tests.e2e.test_durability import ARTIFACTS

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)
SERVERS = CLUSTER["nats_servers"]
SHORT_CUT_S = 15.0  # (a stream elects a new leader 5-11 s after losing its own: the full drill)


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    (Path(ARTIFACTS) / "cluster.json").unlink(missing_ok=True)  # (this run's figures only)
    stack = RunningStack(tmp_path_factory.mktemp("cluster") / "home", CLUSTER_ENV)
    stack.start()
    try:
        yield stack
    finally:
        if stack.proc:
            stack.discard()


def test_every_stream_and_the_kv_bucket_are_on_all_three_servers(
        cluster_stack: RunningStack) -> None:
    for name, stream in stream_states(cluster_stack.settings()).items():
        assert stream["replicas"] == SERVERS, name
        assert stream["current_followers"] == SERVERS - 1, name


def test_two_of_each_of_our_processes_and_every_server_on_its_own_address(
        cluster_stack: RunningStack) -> None:
    running = cluster_stack.processes()
    for ours in ("metadata", "vision", "thumbnails", "collage", "exif", "worker", "trigger"):
        assert {ours, f"{ours}-2"} <= set(running), ours
    for server in ("nats-3", "storage-master-3", "storage-volume-3", "storage-filer",
                   "storage-2", "etcd-3", "database-2"):
        assert server in running, server


def test_etcd_refuses_a_caller_without_the_run_s_certificate(cluster_stack: RunningStack) -> None:
    settings = cluster_stack.settings()
    member = etcd.endpoints(settings)[0]
    for url in (f"http://{member}/version", f"https://{member}/version"):
        with pytest.raises(httpx.HTTPError):
            httpx.get(url, timeout=5, verify=False)
    certs = etcd.tls_dir(settings)
    import ssl

    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.load_cert_chain(certs / "client.crt", certs / "client.key")
    assert httpx.get(f"https://{member}/version", timeout=5, verify=context).status_code == 200


def test_patroni_s_api_refuses_a_caller_without_the_run_s_certificate(
        cluster_stack: RunningStack) -> None:
    settings = cluster_stack.settings()
    host = settings.node_hosts("database", 1)[0]
    api = f"{host}:{settings.port + patroni.REST}"
    for url in (f"http://{api}/cluster", f"https://{api}/cluster", f"https://{api}/primary"):
        with pytest.raises(httpx.HTTPError):
            httpx.get(url, timeout=5, verify=False)
    # a certificate of another CA (the etcd's) is refused too
    import ssl

    other = etcd.tls_dir(settings)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(other / "client.crt", other / "client.key")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://{api}/cluster", timeout=5, verify=context)
    assert patroni.rest_get(settings, host, "/cluster", timeout=5).status_code == 200


def test_every_volume_is_on_two_volume_servers_and_the_standby_is_synchronous(
        cluster_stack: RunningStack) -> None:
    settings = cluster_stack.settings()
    with cluster_stack.client() as api:
        resp = api.post("/api/pictures", files=[("pictures", ("r.jpg", _jpeg(), "image/jpeg"))])
        assert resp.status_code == 202, resp.text
        picture = resp.json()["accepted"][0]["id"]
        wait_until(lambda: api.get(f"/api/pictures/{picture}").json()["status"] == "done",
                   timeout=60, what="the picture done")
    storage = settings.storage_dir()
    copies = Counter(path.name for n in range(1, settings.storage_nodes + 1)
                     for path in (storage / f"node-{n}" / "volume").glob("pictures_*.dat"))
    assert copies and set(copies.values()) == {2}, f"the pictures' volumes' copies: {copies}"
    # PostgreSQL: the standby is synchronous and streaming, with nothing left to replay
    cluster = patroni.rest_get(settings, settings.node_hosts("database", 1)[0], "/cluster",
                               timeout=5).json()
    roles = sorted(m["role"] for m in cluster["members"])
    assert roles == ["leader", "sync_standby"], cluster
    standby = next(m for m in cluster["members"] if m["role"] == "sync_standby")
    assert standby["state"] == "streaming", standby


@pytest.mark.parametrize(("mode", "tier", "role", "how"), [
    ("choreography", "nats", "the events stream's leader", "cut"),
    ("orchestration", "database", "the PostgreSQL primary", "kill"),
])
def test_a_server_taken_away_mid_burst_refuses_nothing_and_loses_nothing(
        cluster_stack: RunningStack, mode: str, tier: str, role: str, how: str) -> None:
    if how == "cut" and (why := unavailable()):
        pytest.skip(f"cutting a server off: {why}")
    result = drill(cluster_stack, Chaos(cluster_stack), mode, tier, role, how, uploads=24,
                   seconds=SHORT_CUT_S + 6, cut_s=SHORT_CUT_S)
    run = result.run
    assert run.violations == [], run.violations
    assert run.refused == 0, result.row()
    assert run.stuck == 0 and run.failed == 0, result.row()
    assert run.done + run.deleted == run.accepted, result.row()
    assert result.outage.new_leader_s is not None, f"{result.victim} led nothing?"
    settings = cluster_stack.settings()
    # the tier whole again: every stream current on all three; a primary and its standby
    wait_until(lambda: all(s["current_followers"] == SERVERS - 1
                           for s in stream_states(settings).values()),
               timeout=60, what="every stream current on all three servers again",
               tolerate=(Exception,))
    wait_until(lambda: database_primary(settings) is not None, timeout=60,
               what="a PostgreSQL primary")
    log.info("cluster: %s", result.row())
    ARTIFACTS.mkdir(exist_ok=True)
    path = Path(ARTIFACTS) / "cluster.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[f"{mode}/{how} {result.victim}"] = result.row()
    path.write_text(json.dumps(saved, indent=2))


def _jpeg() -> bytes:
    from picadaily.drills import sample_jpeg

    return sample_jpeg(4242)
