"""uvicorn's server, ticking once a second instead of ten times.

uvicorn's main loop wakes every 0.1 s to refresh the ``date`` header (once a second) and to see
whether it was asked to stop: about a millisecond of CPU a second per idle process, six HTTP
services in the stack (measured: each idle Python service used 1.7-2 ms of CPU a second). Here it
wakes once a second, when the header needs it, and at once when a signal asks it to stop.

``main_loop`` and ``on_tick`` are uvicorn's internals, not its public API: pyproject.toml bounds
uvicorn to the releases ``tests/integration/test_http_server.py`` passed on, and constraints.txt
pins the one installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import FrameType

import uvicorn

TICK_S = 1.0
TICKS_PER_SECOND = 10  # what uvicorn's ``on_tick`` counts in (it refreshes the date on % 10)


class Server(uvicorn.Server):
    _stopping: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + TICKS_PER_SECOND) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_S)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)


def serve(app: object, host: str, port: int, *, replica_port: int | None = None,
          **options: object) -> None:
    """``uvicorn.run`` with this server. With ``replica_port`` it is one replica of several:
    it listens on ``port`` together with the others, and on ``replica_port`` alone."""
    server = Server(uvicorn.Config(app, host=host, port=port, **options))  # type: ignore[arg-type]
    if replica_port is None:
        server.run()
        return
    server.run(sockets=[listening(host, port, shared=True), listening(host, replica_port)])


def listening(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A listening socket; ``shared``: with ``SO_REUSEPORT``, so the kernel spreads the
    connections over every process of this user listening on the port (only the same user's
    sockets may join: the runner checks that the port was free before the first replica)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock
