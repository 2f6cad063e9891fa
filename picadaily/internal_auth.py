"""Calls between the stack's own processes carry a shared secret: the services' HTTP edges, the
trace store and the stack runner's control endpoint answer only a caller that has it, so a
local user who reaches their ports on loopback cannot delete a document, arm a fault or stop a
process. The stack runner makes the secret for each run (``PICADAILY_INTERNAL_TOKEN``) and hands
it to its children; compose reads it from ``.env``. ``/healthz`` stays open (it changes nothing
and tells a supervisor whether the process is alive)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)
HEADER = "X-Picadaily-Internal-Token"
OPEN_PATHS = frozenset({"/healthz"})
EXAMPLE_PREFIX = "change-me-"  # .env.example's secrets all start so

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def internal_headers(token: str) -> dict[str, str]:
    """What a caller of another process of the stack sends (nothing when no token is set)."""
    return {HEADER: token} if token else {}


def otlp_headers(token: str) -> str:
    """``OTEL_EXPORTER_OTLP_HEADERS``: the trace store takes exports from the stack only."""
    return f"{HEADER.lower()}={token}" if token else ""


def token_matches(expected: str, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(expected.encode(), given.encode())


class InternalOnly:
    """ASGI middleware: every request but ``OPEN_PATHS`` needs ``HEADER`` equal to ``token``
    (401 otherwise, in the services' error shape). An empty token lets everything through, and
    says so once: a bare test server, or a deployment that has not set one."""

    def __init__(self, app: ASGIApp, token: str, name: str) -> None:
        self.app = app
        self.token = token
        self._header = HEADER.lower().encode()
        if token.startswith(EXAMPLE_PREFIX):
            raise ValueError("PICADAILY_INTERNAL_TOKEN is .env.example's: choose your own")
        if not token:
            log.warning("%s: PICADAILY_INTERNAL_TOKEN is not set: its internal routes take any "
                        "caller", name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.token or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == self._header),
                     None)
        if token_matches(self.token, given):
            await self.app(scope, receive, send)
            return
        body = b'{"error": "an internal route: only the stack\'s own processes may call it", ' \
               b'"retryable": false}'
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
