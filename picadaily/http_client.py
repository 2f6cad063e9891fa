"""The HTTP client every process calls our services with: httpx's API on aiohttp's connections.

httpx is the interface (its errors, ``MockTransport`` in tests, tracing's instrumentation); its
own connection layer (httpcore on anyio) cost 0.69 ms of client CPU per request here, measured
against a FastAPI app on loopback, where aiohttp's took 0.31 ms through this transport (0.11 ms
called directly). The conductor makes eleven service calls per picture, so that was 4 ms of the
worker's CPU per picture. Bodies are small JSON documents: a response is read whole.

Why not ``httpx-aiohttp`` (the same idea, kept by others): ``make client-compare``
(``bench/results/client-compare-20261202-032029.json``) measured the same client CPU (0.581 vs
0.576 ms a request; httpx's own 0.973), but its 0.2.0 reports a refused connection, and one the
server dropped, as ``ConnectTimeout``: ``/where`` would then say a stopped service timed out.
Ours says ``ConnectError``. Worth measuring again with its next release.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from yarl import URL

from picadaily.tracing import instrument_client

# aiohttp's connection errors, as the httpx errors callers catch (a subclass before its base).
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.NetworkError),
    (aiohttp.ClientError, httpx.NetworkError),
)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on one pooled ``aiohttp`` session (made on first use, in the loop
    that uses it)."""

    # An idle connection is not used again after this long: well before uvicorn closes its side
    # (5 s), so a request never races the server's close (aiohttp sends an idempotent request
    # again on a connection found closed, but not a POST).
    KEEPALIVE_S = 2.0

    def __init__(self, max_connections: int = 100, keepalive_s: float = KEEPALIVE_S) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections,
                                             keepalive_timeout=self._keepalive_s)
            # httpx has set every header already: aiohttp adds none and decodes nothing.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  skip_auto_headers=("User-Agent",))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            async with self._session_now().request(
                    request.method, URL(str(request.url), encoded=True),
                    headers=request.headers.multi_items(), data=body or None,
                    allow_redirects=False, compress=None,
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=timeout.get("connect"),
                        sock_read=timeout.get("read"))) as resp:
                content = await resp.read()
                return httpx.Response(resp.status, headers=resp.raw_headers, content=content,
                                      request=request)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc, request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _as_httpx(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            return ours(f"{type(exc).__name__}: {exc}", request=request)
    return httpx.NetworkError(repr(exc), request=request)  # pragma: no cover (ClientError last)


def service_client(base_url: str, timeout: float | httpx.Timeout, **kwargs: Any,
                   ) -> httpx.AsyncClient:
    """An async client of one of our services (traced when tracing is on)."""
    client = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                               transport=AiohttpTransport(), **kwargs)
    instrument_client(client)
    return client
