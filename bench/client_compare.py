"""Our httpx transport on aiohttp (``picadaily.http_client.AiohttpTransport``) against the
package that offers the same, ``httpx-aiohttp``, and against httpx's own transport: what each
costs the caller per request (client CPU, the server in a process of its own) and whether each
keeps what callers rely on — httpx's errors for a slow answer, nobody listening and a
connection the server drops, and a whole body.

``make client-compare`` (``python -m bench.client_compare [REQUESTS]``). Each transport runs
the same calls against one uvicorn server on loopback, in rounds taken in turn (this machine
drifts); prints a table and saves ``bench/results/client-compare-<date>.json``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("ours", "httpx-aiohttp", "httpx")
ROUNDS = 5
KEEPALIVE_S = 2.0  # both aiohttp variants: well before uvicorn closes an idle connection (5 s)

app = FastAPI()


@app.get("/small")
async def small() -> dict[str, Any]:
    return {"id": "01JABCDEFGHJKMNPQRSTVWXYZ0", "status": "processing", "labels": ["a"] * 8}


@app.post("/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@app.get("/slow")
async def slow() -> dict[str, bool]:
    await asyncio.sleep(2)
    return {"slow": True}


@app.get("/drop")
async def drop(request: Request) -> None:
    """The server goes away mid-request: the process dies (answered by nobody)."""
    import os

    os._exit(1)


def _transport(variant: str) -> httpx.AsyncBaseTransport | None:
    if variant == "ours":
        from picadaily.http_client import AiohttpTransport

        return AiohttpTransport(keepalive_s=KEEPALIVE_S)
    if variant == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport as Theirs

        return Theirs(limits=httpx.Limits(max_connections=100, keepalive_expiry=KEEPALIVE_S))
    return None  # httpx's own (httpcore)


def _client(variant: str, url: str, timeout: float | httpx.Timeout = 5) -> httpx.AsyncClient:
    transport = _transport(variant)
    if transport is None:
        return httpx.AsyncClient(base_url=url, timeout=timeout)
    return httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.client_compare:app", "--port",
             str(self.port), "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"],
            cwd=Path(__file__).resolve().parent.parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/small").status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


async def _cpu_per_request(variant: str, url: str, count: int) -> float:
    body = {"analysis": {"labels": [{"name": "coffee", "score": 0.9}] * 20}}
    async with _client(variant, url) as client:
        for _ in range(100):  # warm: connections, code paths
            (await client.get("/small")).raise_for_status()
        start = time.process_time()
        for n in range(count):
            resp = await (client.get("/small") if n % 2 else client.post("/echo", json=body))
            resp.raise_for_status()
            resp.json()
        return (time.process_time() - start) / count * 1000


async def _promises(variant: str, server: Server) -> dict[str, str]:
    """What each promise gave: the httpx error's name, or what happened instead."""
    out: dict[str, str] = {}

    async def outcome(key: str, call: Any) -> None:
        try:
            resp = await call
            out[key] = f"answered {resp.status_code}"
        except httpx.HTTPError as exc:
            out[key] = type(exc).__name__

    async with _client(variant, server.url, httpx.Timeout(0.3, connect=2)) as client:
        await outcome("slow answer (want ReadTimeout)", client.get("/slow"))
    async with _client(variant, f"http://127.0.0.1:{_free_port()}", 2) as client:
        await outcome("nobody listening (want ConnectError)", client.get("/x"))
    async with _client(variant, server.url, 5) as client:
        big = await client.post("/echo", content=b"x" * 3_000_000)
        out["a 3 MB body (want 3000000)"] = str(big.json()["bytes"])
        # (an idempotent GET may be sent again on a new connection: then the refusal shows)
        await outcome("the server dies mid-request (want RemoteProtocolError or ConnectError)",
                      client.get("/drop"))
    return out


def main(count: int = 3000) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # (a line per request otherwise)
    server = Server().start()
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        for _ in range(ROUNDS):
            for variant in VARIANTS:
                cpu[variant].append(asyncio.run(_cpu_per_request(variant, server.url, count)))
    finally:
        server.stop()
    promises = {}
    for variant in VARIANTS:
        server = Server().start()  # (each check of a dropped connection kills it)
        try:
            promises[variant] = asyncio.run(_promises(variant, server))
        finally:
            server.stop()
    median = {v: round(statistics.median(cpu[v]), 4) for v in VARIANTS}
    results = {"requests": count, "rounds": ROUNDS,
               "client_cpu_ms_per_request": {v: [round(x, 4) for x in cpu[v]] for v in VARIANTS},
               "median_ms": median, "promises": promises}
    log.info("client CPU per request (median of %d rounds of %d):", ROUNDS, count)
    for variant in VARIANTS:
        log.info("  %-14s %.3f ms  %s", variant, median[variant], cpu[variant])
    for variant, kept in promises.items():
        log.info("%s:", variant)
        for promise, got in kept.items():
            log.info("  %-58s %s", promise, got)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"client-compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    log.info("saved %s", path)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
