"""A round-robin TCP proxy: the one address of a service whose replicas listen on ports of their
own. The runner starts one per replicated HTTP service (``picadaily up --replicas N``); each new
connection goes to the next replica that accepts it (a replica that is down is skipped)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading

log = logging.getLogger("picadaily.stack")
CHUNK = 65536


class RoundRobinProxy:
    def __init__(self, name: str, host: str, port: int, backends: list[int]) -> None:
        self.name, self.host, self.port, self.backends = name, host, port, backends
        self._next = itertools.cycle(range(len(backends)))
        self._lock = threading.Lock()
        self._server = socket.create_server((host, port), reuse_port=False)
        self._closed = threading.Event()

    def start(self) -> RoundRobinProxy:
        threading.Thread(target=self._accept, name=f"proxy-{self.name}", daemon=True).start()
        log.info("  %-10s %s:%d -> replicas on %s", self.name, self.host, self.port,
                 ", ".join(map(str, self.backends)))
        return self

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        """The next replica that accepts a connection, trying each once."""
        for _ in self.backends:
            with self._lock:
                port = self.backends[next(self._next)]
            try:
                return socket.create_connection((self.host, port), timeout=2)
            except OSError:
                continue
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()  # every replica is down: the caller sees a refused call and retries
            return
        upstream.settimeout(None)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
