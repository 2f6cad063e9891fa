"""What a drill needs to know of a clustered stack (``picadaily up --cluster``): which server
leads each tier now, where each node listens, and how to take one away — killed -9 (the runner
restarts it) or cut off for a while (``harness.netcut``) — timing how long the tier took to
have a leader again."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cli.stack import nats_process_of_server
from harness.netcut import cut_off
from harness.stack import RunningStack, wait_until
from infra import patroni, seaweedfs
from picadaily.nats_util import close_nats, connect_nats
from picadaily.settings import Settings

CUT_S = 20.0
# "I1202 05:50:33.990247 master_server.go:259 [127.0.1.3:9312.9313] 127.0.1.2:9312.9313
# becomes leader." (glog: month, day, local time)
_BECOMES_LEADER = re.compile(r"^I(\d{4}) (\d\d:\d\d:\d\d\.\d+) .* (\S+):\d+\.\d+ becomes leader")


def node_address(settings: Settings, process: str) -> str:
    """The loopback address a cluster server listens on, by the runner's name for it."""
    number = int(process.rsplit("-", 1)[1]) if process[-1].isdigit() else 1
    if process.startswith("nats"):
        return settings.node_hosts("nats", settings.nats_servers)[number - 1]
    if process.startswith("storage"):
        kind, number = seaweedfs.part_of(process)
        return seaweedfs.server_hosts(settings, kind)[number - 1]
    if process.startswith("database"):
        return settings.node_hosts("database", settings.postgres_nodes)[number - 1]
    if process.startswith("etcd"):
        return settings.node_hosts("etcd", 3)[number - 1]
    raise ValueError(f"{process} is not a cluster server")


def stream_states(settings: Settings, avoid: str = "") -> dict[str, dict[str, Any]]:
    """Each stream's (and the KV bucket's) replica count, leader (as the runner names its
    process) and how many of its followers are current; asked of the servers not on address
    ``avoid`` (one cut off would hold the question)."""
    servers = [url for url in settings.nats_url.split(",") if not avoid or f"@{avoid}:" not in url]
    asking = settings.model_copy(update={"nats_url": ",".join(servers)})

    async def ask() -> dict[str, dict[str, Any]]:
        nc = await connect_nats(asking, "drill")
        try:
            js = nc.jetstream()
            out = {}
            for name in (settings.events_stream, settings.storage_stream,
                         f"KV_{settings.kv_bucket}"):
                info = await js.stream_info(name)
                cluster = info.cluster
                assert cluster is not None
                out[name] = {"replicas": info.config.num_replicas,
                             "leader": nats_process_of_server(cluster.leader or ""),
                             "has_leader": bool(cluster.leader),
                             "current_followers": sum(1 for r in cluster.replicas or []
                                                      if r.current)}
            return out
        finally:
            await close_nats(nc)

    return asyncio.run(ask())


def master_leader(stack: RunningStack) -> tuple[str, dt.datetime]:
    """The SeaweedFS master that became leader last (the runner's name for it) and when, from
    the masters' logs (their HTTP is off; their gRPC takes only the run's certificates)."""
    settings = stack.settings()
    hosts = seaweedfs.server_hosts(settings, "master")
    latest: tuple[str, dt.datetime] | None = None
    for log in settings.log_dir().glob("storage-master*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if (m := _BECOMES_LEADER.match(line)) and m.group(3) in hosts:
                at = _glog_time(m.group(1), m.group(2))
                if latest is None or at > latest[1]:
                    number = hosts.index(m.group(3)) + 1
                    latest = (seaweedfs.part_name("master", number), at)
    if latest is None:
        raise LookupError("no master has become leader yet")
    return latest


def _glog_time(month_day: str, clock: str) -> dt.datetime:
    now = dt.datetime.now()
    return dt.datetime.strptime(f"{now.year}{month_day} {clock}", "%Y%m%d %H:%M:%S.%f")


def database_primary(settings: Settings, avoid: str = "") -> str | None:
    """The PostgreSQL node that is primary now (the runner's name for it), asked of each
    node's Patroni (not of ``avoid``'s)."""
    hosts = settings.node_hosts("database", settings.postgres_nodes)
    for number, host in enumerate(hosts, start=1):
        if host == avoid:
            continue
        try:
            if patroni.rest_get(settings, host, "/primary").status_code == 200:
                return patroni.node_name(number)
        except httpx.HTTPError:
            continue
    return None


@dataclass
class Outage:
    """One server taken away: how, and what the tier did."""

    victim: str
    how: str  # "kill" or "cut"
    back_s: float = -1.0  # until it was running (kill) or let back (cut)
    new_leader_s: float | None = None  # until its tier had a leader other than it
    new_leader: str = ""


def take_away(stack: RunningStack, victim: str, how: str, cut_s: float = CUT_S) -> Outage:
    """Kill ``victim`` -9 (and wait for the runner to restart it) or cut it off for ``cut_s``;
    meanwhile, if it leads its tier (NATS' events stream, SeaweedFS' masters), time the
    election of another."""
    settings = stack.settings()
    outage = Outage(victim, how)
    pid = stack.processes()[victim]
    leads = _leads(stack, settings, victim)
    t0, wall0 = time.monotonic(), dt.datetime.now()
    if how == "kill":
        os.kill(pid, signal.SIGKILL)
        _until_new_leader(stack, settings, victim, leads, outage, t0, wall0, timeout=60)
        wait_until(lambda: stack.processes().get(victim) not in (None, pid), timeout=90,
                   what=f"{victim} restarted", tolerate=(httpx.HTTPError,))
    else:
        with cut_off(pid, node_address(settings, victim)):
            _until_new_leader(stack, settings, victim, leads, outage, t0, wall0,
                              timeout=cut_s)
            time.sleep(max(0.0, t0 + cut_s - time.monotonic()))
    outage.back_s = round(time.monotonic() - t0, 1)
    return outage


def _leads(stack: RunningStack, settings: Settings, victim: str) -> bool:
    if victim.startswith("nats"):
        return bool(stream_states(settings)[settings.events_stream]["leader"] == victim)
    if victim.startswith("storage-master"):
        return master_leader(stack)[0] == victim
    if victim in {patroni.node_name(n) for n in range(1, settings.postgres_nodes + 1)}:
        return database_primary(settings) == victim
    return False


def _until_new_leader(stack: RunningStack, settings: Settings, victim: str, leads: bool,
                      outage: Outage, t0: float, wall0: dt.datetime, timeout: float) -> None:
    if not leads:
        return
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            if victim.startswith("nats"):
                away = node_address(settings, victim)
                state = stream_states(settings, avoid=away)[settings.events_stream]
                if state["has_leader"] and state["leader"] != victim:
                    outage.new_leader = state["leader"]
                    outage.new_leader_s = round(time.monotonic() - t0, 1)
                    return
            elif victim.startswith("database"):
                primary = database_primary(settings, avoid=node_address(settings, victim))
                if primary is not None and primary != victim:
                    outage.new_leader = primary
                    outage.new_leader_s = round(time.monotonic() - t0, 1)
                    return
            else:
                leader, at = master_leader(stack)
                if leader != victim and at > wall0:
                    outage.new_leader = leader
                    outage.new_leader_s = round((at - wall0).total_seconds(), 1)
                    return
        except Exception:  # (a tier electing answers nothing for a while)
            pass
        time.sleep(0.25)
