"""The local cluster's etcd (Debian ``etcd-server``): three members, each on a loopback address
of its own (``Settings.node_hosts("etcd", 3)``), data under ``PICADAILY_HOME/etcd``. Patroni
keeps the PostgreSQL primary's leader key there (``infra.patroni``). (It was tried as the store
two SeaweedFS filers share, too: see ``infra.seaweedfs.parts`` for why there is one filer.)

No door open on the machine: clients and peers alike speak mutual TLS with certificates of a CA
made for the run (``tls_dir``: ``member`` for the members, ``client`` for Patroni); a caller
without one is refused at the handshake."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from infra import tls
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


def tls_dir(settings: Settings) -> Path:
    return settings.secrets_dir() / "etcd-tls"


def make_tls(settings: Settings) -> None:
    tls.make_authority(tls_dir(settings), "picadaily etcd CA", hosts(settings),
                       ("member", "client"))


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
    initial = ",".join(f"m{i}=https://{h}:{base + PEER}" for i, h in enumerate(where, start=1))
    certs = tls_dir(settings)
    mutual = ["--client-cert-auth", f"--trusted-ca-file={certs / 'ca.crt'}",
              f"--cert-file={certs / 'member.crt'}", f"--key-file={certs / 'member.key'}",
              "--peer-client-cert-auth", f"--peer-trusted-ca-file={certs / 'ca.crt'}",
              f"--peer-cert-file={certs / 'member.crt'}",
              f"--peer-key-file={certs / 'member.key'}"]
    return [EtcdMember(member_name(i), [
        etcd, "--name", f"m{i}", "--data-dir", str(folder / f"member-{i}"), *mutual,
        "--listen-client-urls", f"https://{host}:{base + CLIENT}",
        "--advertise-client-urls", f"https://{host}:{base + CLIENT}",
        "--listen-peer-urls", f"https://{host}:{base + PEER}",
        "--initial-advertise-peer-urls", f"https://{host}:{base + PEER}",
        "--initial-cluster", initial, "--initial-cluster-state", "new",
        "--initial-cluster-token", f"picadaily-{base}", "--log-level", "warn",
        "--heartbeat-interval", "100", "--election-timeout", "1000"],
        host, base + CLIENT, (base + CLIENT, base + PEER))
        for i, host in enumerate(where, start=1)]
