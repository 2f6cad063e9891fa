"""The bounds every HTTP process of ours serves with (``cli.http_protocol``), on a real uvicorn
server on loopback: a client trickling its headers or pausing in its body is cut off, more
connections than the bound are answered 503 at once, and ordinary requests (keep-alive and a
slow app included) are not affected."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cli.http_protocol import guarded_protocol
from cli.http_server import Server
from cli.ports import free_port
from harness.stack import wait_until

HEADER_TIMEOUT_S = 0.5
MAX_CONNECTIONS = 20


async def echo(request: Request) -> PlainTextResponse:
    body = await request.body()
    if request.query_params.get("slow"):
        await asyncio.sleep(1.5)  # longer than every bound: the app's own time is its own
    return PlainTextResponse(f"{len(body)}")


@pytest.fixture
def port() -> Iterator[int]:
    app = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])
    port = free_port()
    server = Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False,
        http=guarded_protocol(MAX_CONNECTIONS, HEADER_TIMEOUT_S, HEADER_TIMEOUT_S)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the server started")
    yield port
    server.should_exit = True
    thread.join(10)


def _closed_by_server(conn: socket.socket, trickle: list[bytes], every_s: float) -> bool:
    """Send ``trickle`` piece by piece; True once the server has closed the connection."""
    conn.settimeout(every_s)
    for piece in trickle:
        try:
            conn.sendall(piece)
            if conn.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset: closed
            return True
    return False


def test_a_client_trickling_its_headers_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        lines = [b"GET / HTTP/1.1\r\n", b"Host: x\r\n"] + [b"X-Slow: 1\r\n"] * 40
        # one line every 0.1 s: 4 s in all, far past the 0.5 s the headers may take
        assert _closed_by_server(conn, lines, 0.1)


def test_a_client_pausing_in_its_body_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        conn.sendall(head)
        conn.settimeout(5)
        started = time.monotonic()
        assert conn.recv(1024) == b""  # the body never came: closed, without an answer
        assert time.monotonic() - started < 5


def test_connections_past_the_bound_are_answered_503_and_closed(port: int) -> None:
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS)]
    try:
        wait_until(lambda: True, 1)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            extra.settimeout(5)
            answer = extra.recv(1024)
            assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
    finally:
        for conn in held:
            conn.close()
    # once they are gone (or cut off by the header bound), requests are served again
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200, 10,
               "served again", tolerate=(httpx.HTTPError,))


def test_ordinary_requests_keep_alive_and_slow_apps_are_not_affected(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(3):  # one connection, kept alive between requests
            assert client.post("/", content=b"x" * 100_000).text == "100000"
        assert client.get("/", params={"slow": "1"}, timeout=10).text == "0"
        time.sleep(HEADER_TIMEOUT_S / 2)
        assert client.get("/").status_code == 200
