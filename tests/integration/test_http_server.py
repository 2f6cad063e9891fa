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

from cli.http_server import Server, listening
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


def test_replicas_share_the_service_s_port_and_the_kernel_spreads_connections() -> None:
    """Two replicas on one port (SO_REUSEPORT), each on a port of its own too: new connections
    reach both; once one stops, every request is answered by the other, none refused."""
    shared = free_port()
    servers, threads = [], []
    for name in ("one", "two"):
        app = Starlette(routes=[Route("/", lambda request, name=name: PlainTextResponse(name))])
        own = free_port()
        server = Server(uvicorn.Config(app, host="127.0.0.1", port=shared, log_config=None,
                                       access_log=False))
        sockets = [listening("127.0.0.1", shared, shared=True), listening("127.0.0.1", own)]
        thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
        thread.start()
        wait_until(lambda server=server: server.started, 30, f"replica {name} started")
        assert httpx.get(f"http://127.0.0.1:{own}/").text == name  # its own port: only it
        servers.append(server)
        threads.append(thread)
    # a new connection each (the kernel picks by the connection's addresses): both answer
    answers = {httpx.get(f"http://127.0.0.1:{shared}/").text for _ in range(60)}
    assert answers == {"one", "two"}
    servers[0].handle_exit(signal.SIGTERM, None)
    threads[0].join(timeout=30)
    assert {httpx.get(f"http://127.0.0.1:{shared}/").text for _ in range(30)} == {"two"}
    servers[1].handle_exit(signal.SIGTERM, None)
    threads[1].join(timeout=30)
