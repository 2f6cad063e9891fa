"""Real servers on loopback for the integration tests: NATS, moto (S3 + SQS), Temporal, and our
own HTTP services served by uvicorn in a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cli.ports import free_port, free_port_block
from cli.stack import binary
from cli.supervisor import die_with_parent
from harness.stack import wait_until
from infra import seaweedfs
from picadaily.settings import Settings


def _tcp(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def process(argv: list[str], port: int, log: Path, ready: Callable[[], bool] | None = None,
            name: str = "server", env: dict[str, str] | None = None, cwd: Path | None = None,
            ) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, **(env or {})}, preexec_fn=die_with_parent)
        try:
            wait_until(lambda: proc.poll() is None and (ready or (lambda: _tcp(port)))(),
                       what=f"{name} on port {port} (log: {log})", tolerate=(Exception,))
            yield proc
        finally:
            # Throwaway servers with throwaway data: no need to wait for a graceful stop
            # (SeaweedFS and Temporal took seconds each at the end of every run).
            proc.kill()
            proc.wait()


def nats_server(tmp: Path) -> contextlib.AbstractContextManager[Any]:
    port = free_port()
    return _with_url(process(
        [binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd",
         str(tmp / "nats")], port, tmp / "nats.log", name="nats-server"),
        f"nats://127.0.0.1:{port}")


@dataclass(frozen=True)
class SeaweedStore:
    s3_url: str
    port_base: int
    filer_grpc: str
    access_key: str  # an Admin identity's key: the store takes no anonymous call
    secret_key: str


@contextlib.contextmanager
def seaweedfs_server(tmp: Path) -> Iterator[SeaweedStore]:
    """The real object store of the local stack (its four parts, ``infra.seaweedfs``), as the
    stack runner runs it: S3 identities and write JWTs; plain gRPC (each test has a home of its
    own, and the stack's TLS material lives in the stack's)."""
    base = free_port_block(8)
    settings = Settings(home=tmp / "seaweedfs-home", s3_endpoint=f"http://127.0.0.1:{base + 7}",
                        seaweedfs_port_base=base, seaweedfs_filer_grpc=f"127.0.0.1:{base + 5}")
    data = tmp / "seaweedfs"
    seaweedfs.prepare(settings, data, tls=False)
    key = seaweedfs.make_identities(settings, components={}, admin="tests")["tests"]
    env = {**seaweedfs.SERVER_ENV, **seaweedfs.security_env(settings, tls=False)}
    with contextlib.ExitStack() as running:
        for part in seaweedfs.parts(binary("weed"), settings, data):
            running.enter_context(process(
                part.argv, part.port, tmp / f"{part.name}.log",
                ready=seaweedfs.part_ready(settings, part), name=part.name, env=env, cwd=data))
        yield SeaweedStore(s3_url=settings.s3_endpoint, port_base=base,
                           filer_grpc=settings.seaweedfs_filer_grpc,
                           access_key=key.access_key, secret_key=key.secret_key)


def moto_server(tmp: Path) -> contextlib.AbstractContextManager[Any]:
    """moto's S3 + SQS: a test double, only for the AWS S3 -> SQS -> bridge path."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return _with_url(process(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port,
        tmp / "moto.log", ready=lambda: httpx.get(url + "/").status_code == 200, name="moto"),
        url)


def temporal_server(tmp: Path) -> contextlib.AbstractContextManager[Any]:
    port = free_port()
    return _with_url(process(
        [binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
         "--headless", "--db-filename", str(tmp / "temporal.sqlite"),
         "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
         "--log-level", "warn"],
        port, tmp / "temporal.log", name="temporal"), f"127.0.0.1:{port}")


@contextlib.contextmanager
def _with_url(cm: contextlib.AbstractContextManager[Any], url: str) -> Iterator[str]:
    with cm:
        yield url


class ThreadedServer:
    """Serve an ASGI app with uvicorn on a free port in a background thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn on port {self.port} exited while starting")
            return bool(self.server.started)

        deadline = time.monotonic() + 30
        while not started():
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
