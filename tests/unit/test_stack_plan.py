"""The stack runner's plan: the ports it gives replicas, the order it starts processes in."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import cli.ports
from cli.ports import free_port
from cli.stack import Stack, StackError, start_waves
from picadaily.settings import CLUSTER, CLUSTER_TIERS, Settings


def test_a_replicas_port_is_never_one_the_settings_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service's address is bound only when its first replica starts, so a free port picked
    for a replica's own could be it (seen: metadata's replica on vision's address, and the stack
    failed). Every replica of an HTTP service shares the service's port and has one of its own."""
    stack = Stack(Settings(home=tmp_path, replicas=2))
    named = {port for _, port in stack.named_ports()}
    # the picker's first random choices are exactly the named ports, then ports nobody names
    choices = iter([*sorted(named), *range(20500, 20600)])
    monkeypatch.setattr(cli.ports.random, "randrange", lambda _low, _high: next(choices))
    procs = stack.plan()
    own = {int(p.env["PICADAILY_REPLICA_PORT"]) for p in procs
           if "PICADAILY_REPLICA_PORT" in p.env}
    http_replicated = [p for p in procs if p.name.split("-")[0] in
                       {"metadata", "vision", "thumbnails", "collage", "exif"}]
    assert len(own) == len(http_replicated) == 10
    assert not own & named
    assert all(f"PICADAILY_{p.name.split('-')[0].upper()}_URL" not in p.env
               for p in http_replicated)  # every replica is called at the service's address


def test_a_port_already_taken_stops_the_stack_before_it_starts(tmp_path: Path) -> None:
    port = free_port()
    stack = Stack(Settings(home=tmp_path, nats_url=f"nats://127.0.0.1:{port}", replicas=2))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(StackError, match=rf"nats \({port}\)"):
            stack.check_ports(stack.plan())


def test_a_frontend_alive_but_answering_nobody_is_killed_to_be_restarted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its connections exhausted (or stopped with SIGSTOP), the process is alive: the runner
    asks its /healthz and, after LIVENESS_FAILURES answers that never came, kills it (the
    supervisor then restarts it as after a crash)."""
    import subprocess
    import threading

    import cli.stack
    from cli.supervisor import Proc
    from harness.stack import wait_until

    monkeypatch.setattr(cli.stack, "LIVENESS_EVERY_S", 0.05)
    monkeypatch.setattr(cli.stack, "LIVENESS_TIMEOUT_S", 0.2)
    stack = Stack(Settings(home=tmp_path))
    silent = free_port()  # nothing listens: every check fails to connect
    proc = Proc("frontend", ["sleep", "60"], silent, lambda _p: True, tmp_path / "f.log")
    proc.popen = subprocess.Popen(["sleep", "60"])
    proc.state = "running"
    stack.procs.append(proc)
    watcher = threading.Thread(target=stack._watch_liveness, daemon=True)
    watcher.start()
    try:
        wait_until(lambda: proc.popen is not None and proc.popen.poll() is not None, 10,
                   "the silent frontend killed")
    finally:
        stack.stopping.set()
        watcher.join(5)
        if proc.popen.poll() is None:
            proc.popen.kill()
    assert proc.popen.returncode == -9


def test_the_servers_start_one_by_one_temporal_beside_then_ours_in_waves_feeders_last(
        tmp_path: Path) -> None:
    stack = Stack(Settings(home=tmp_path, replicas=2, tracing=True))
    waves = [[p.name for p in wave] for wave in start_waves(stack.plan())]
    assert waves[:5] == [["nats"], ["storage-master", "temporal"], ["storage-volume"],
                         ["storage-filer"], ["storage"]]
    assert sorted(waves[5]) == ["metadata", "metadata-2", "traces"]
    assert {"vision", "vision-2", "worker", "worker-2", "exif"} <= set(waves[6])
    assert sorted(waves[7]) == ["frontend", "reconciler", "source", "trigger", "trigger-2"]
    assert len(waves) == 8
    minio = Stack(Settings(home=tmp_path, event_source="minio"))
    assert [[p.name for p in w] for w in start_waves(minio.plan())][:2] == [["nats"],
                                                                           ["temporal"]]


def test_a_nats_cluster_is_three_servers_each_a_host_of_its_own(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, nats_servers=3, stream_replicas=3)
    assert settings.nats_url.count(",") == 2  # every client is given all three
    stack = Stack(settings)
    servers = [p for p in stack.plan() if p.name.startswith("nats")]
    assert [p.name for p in servers] == ["nats", "nats-2", "nats-3"]
    assert [p.host for p in servers] == settings.node_hosts("nats", 3)
    for proc in servers:
        config = Path(proc.argv[proc.argv.index("-c") + 1]).read_text()
        others = [p.host for p in servers if p is not proc]
        assert all(f"@{host}:{settings.port}" in config for host in others), config
        assert "authorization { user: route, password:" in config  # routes need the password
        assert proc.argv[proc.argv.index("-a") + 1] == proc.host
    child = stack.child_env()
    assert child["PICADAILY_NATS_SERVERS"] == "3" and child["PICADAILY_STREAM_REPLICAS"] == "3"


def test_every_node_of_every_tier_of_two_stacks_has_an_address_of_its_own(
        tmp_path: Path) -> None:
    """Cutting one node off (packet rules on its address) touches no other server: not one of
    another tier, not one of another stack on the machine."""
    seen: set[str] = set()
    for port in (8080, 8099, 9300):
        settings = Settings(home=tmp_path, port=port, **CLUSTER)
        for tier in CLUSTER_TIERS:
            hosts = settings.node_hosts(tier, 3)
            assert all(h.startswith("127.") for h in hosts)
            assert not seen & set(hosts), (port, tier)
            seen |= set(hosts)


def test_the_cluster_plan_runs_each_tier_on_its_nodes(tmp_path: Path) -> None:
    import shutil

    if shutil.which("etcd") is None or not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.skip("the cluster's PostgreSQL needs etcd and PostgreSQL's server: "
                    "apt-get install etcd-server postgresql")
    settings = Settings(home=tmp_path, **CLUSTER)
    plan = {p.name: p for p in Stack(settings).plan()}
    for name in ("storage-master", "storage-master-2", "storage-master-3", "storage-volume-3",
                 "storage-filer", "storage-2", "etcd-3", "database-2"):
        assert plan[name].host, name
    assert plan["storage-master-2"].host == settings.node_hosts("storage-master", 2)[1]
    # each server of the store on an address of its own: cutting one off cuts no other
    store = [p.host for name, p in plan.items() if name.startswith("storage")]
    assert len(store) == 9 and len(set(store)) == 9, store
    master = plan["storage-master"].argv
    assert "-defaultReplication=001" in master
    assert all(f"{h}:" in next(a for a in master if a.startswith("-peers="))
               for h in settings.node_hosts("storage-master", 3))
    # the metadata alone is given the database's URL (it carries this run's password)
    assert "target_session_attrs=read-write" in plan["metadata"].env["PICADAILY_DATABASE_URL"]
    assert "PICADAILY_DATABASE_URL" not in plan["vision"].env
    assert sum(1 for name in plan if name.startswith("worker")) == 2
