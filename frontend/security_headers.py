"""Headers every answer of the frontend carries: no response is ever sniffed into another type;
pages run only our own script and style (an object put straight into the bucket as text/html
can never act as a page).

A plain ASGI middleware: Starlette's ``@app.middleware("http")`` runs every request in a task of
its own and copies every response, the live-updates stream's events included, through a memory
stream."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders

# What bytes from the store (pictures, thumbnails, the collage) are served with: never a page,
# never a script, even if a type check were fooled.
BYTES_POLICY = "default-src 'none'; sandbox"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)  # (a route may be stricter)
            await send(message)

        await self.app(scope, receive, with_headers)
