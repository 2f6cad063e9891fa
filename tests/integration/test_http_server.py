"""The services' uvicorn server (``cli.http_server``): it serves with the date header, and a stop
signal ends it at once although its loop sleeps a second between ticks."""

from __future__ import annotations

import signal
import threading

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cli.http_server import Server
from cli.ports import free_port
from harness.stack import wait_until


def test_it_serves_and_stops_as_soon_as_it_is_told() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello"))])
    port = free_port()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                   access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the server started")
    resp = httpx.get(f"http://127.0.0.1:{port}/")
    assert (resp.text, "date" in resp.headers) == ("hello", True)

    server.handle_exit(signal.SIGTERM, None)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert server._stopping is not None and server._stopping.is_set()  # woken, not timed out
