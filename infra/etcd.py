"""The local cluster's etcd (Debian ``etcd-server``): three members, each on a loopback address
of its own (``Settings.node_hosts("etcd", 3)``), data under ``PICADAILY_HOME/etcd``. Patroni
keeps the PostgreSQL primary's leader key there (``infra.patroni``). (It was tried as the store
two SeaweedFS filers share, too: see ``infra.seaweedfs.parts`` for why there is one filer.)"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from picadaily.settings import Settings

MEMBERS = 3
# On each member's address, from the stack's base port: clients, then peers.
CLIENT, PEER = 1, 2


@dataclass(frozen=True)
class EtcdMember:
    name: str
    argv: list[str]
    host: str
    port: int
    binds: tuple[int, ...]


def wanted(settings: Settings) -> bool:
    """A stack with its own PostgreSQL nodes runs one."""
    return settings.postgres_nodes > 0


def member_name(number: int) -> str:
    return "etcd" if number == 1 else f"etcd-{number}"


def hosts(settings: Settings) -> list[str]:
    return settings.node_hosts("etcd", MEMBERS)


def endpoints(settings: Settings) -> list[str]:
    """host:port of every member's client address."""
    return [f"{h}:{settings.port + CLIENT}" for h in hosts(settings)]


def members(settings: Settings) -> list[EtcdMember]:
    etcd = shutil.which("etcd")
    if etcd is None:
        raise FileNotFoundError("etcd not found: the cluster keeps its PostgreSQL leader and its "
                                "filers' store there (Debian/Ubuntu: sudo apt-get install "
                                "etcd-server)")
    base, folder = settings.port, settings.home / "etcd"
    where = hosts(settings)
    initial = ",".join(f"m{i}=http://{h}:{base + PEER}" for i, h in enumerate(where, start=1))
    return [EtcdMember(member_name(i), [
        etcd, "--name", f"m{i}", "--data-dir", str(folder / f"member-{i}"),
        "--listen-client-urls", f"http://{host}:{base + CLIENT}",
        "--advertise-client-urls", f"http://{host}:{base + CLIENT}",
        "--listen-peer-urls", f"http://{host}:{base + PEER}",
        "--initial-advertise-peer-urls", f"http://{host}:{base + PEER}",
        "--initial-cluster", initial, "--initial-cluster-state", "new",
        "--initial-cluster-token", f"picadaily-{base}", "--log-level", "warn",
        "--heartbeat-interval", "100", "--election-timeout", "1000"],
        host, base + CLIENT, (base + CLIENT, base + PEER))
        for i, host in enumerate(where, start=1)]
