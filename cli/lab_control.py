"""The stack runner's control endpoint (loopback only): what each process is doing, and for the
failure lab (only when ``PICADAILY_LAB=true``) stop, start or kill -9 one.

Its paths and answers are ``picadaily.control_api``'s: GET /processes, POST
/processes/<name>/stop | start | kill.

Every request carries the stack's internal token (``picadaily.internal_auth``; 401 without it):
the frontend has it, a local user who finds the port does not.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from picadaily.control_api import ACTIONS, PROCESSES, ProcessState
from picadaily.internal_auth import HEADER, token_matches

log = logging.getLogger("picadaily.stack")


class Controlled(Protocol):
    """What the endpoint needs of the stack runner (``cli.stack.Stack``)."""

    def lab_status(self) -> list[ProcessState]: ...
    def lab_action(self, name: str, action: str) -> ProcessState: ...


class LabActionRefused(ValueError):
    pass


def serve(stack: Controlled, url: str, *, actions: bool, token: str) -> ThreadingHTTPServer:
    """Start answering on ``url`` in a daemon thread; the caller shuts the server down."""
    where = urlsplit(url)
    host, port = where.hostname or "127.0.0.1", where.port or 8098
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the lab's control endpoint stays on loopback, not {host}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _allowed(self) -> bool:
            if token_matches(token, self.headers.get(HEADER)):
                return True
            self._answer(401, {"error": "the runner's control endpoint: only the stack's own "
                                        "processes may call it"})
            return False

        def do_GET(self) -> None:
            if not self._allowed():
                return
            if self.path.rstrip("/") == PROCESSES:
                self._answer(200, [p.model_dump() for p in stack.lab_status()])
            else:
                self._answer(404, {"error": "no such lab resource"})

        def do_POST(self) -> None:
            if not self._allowed():
                return
            if not actions:
                self._answer(403, {"error": "the failure lab is off (PICADAILY_LAB=true)"})
                return
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or f"/{parts[0]}" != PROCESSES or parts[2] not in ACTIONS:
                self._answer(404, {"error": "POST /processes/<name>/stop|start|kill"})
                return
            try:
                self._answer(200, stack.lab_action(parts[1], parts[2]).model_dump())
            except KeyError:
                self._answer(404, {"error": f"no process {parts[1]!r}"})
            except LabActionRefused as exc:
                self._answer(409, {"error": str(exc)})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="lab-control", daemon=True).start()
    log.info("  %-10s the runner's control endpoint on %s (lab actions %s)", "control", url,
             "on" if actions else "off")
    return server
