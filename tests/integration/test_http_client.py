"""The service client (httpx on aiohttp's connections) against a real uvicorn server: what
callers rely on of httpx — bodies, headers, query strings, status codes, and httpx's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from cli.ports import free_port
from picadaily.http_client import service_client
from tests.servers import ThreadedServer


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/echo/{path:path}", methods=["GET", "PUT", "POST", "DELETE"])
    async def echo(path: str, request: Request) -> dict[str, object]:
        return {"method": request.method, "path": path, "query": str(request.url.query),
                "body": (await request.body()).decode(), "x": request.headers.getlist("x-one"),
                "type": request.headers.get("content-type")}

    @app.get("/status/{code}")
    def status(code: int) -> Response:
        return Response(f"status {code}", status_code=code, headers={"x-back": "yes"})

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(2)
        return {"slow": True}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(_app()) as running:
        yield running


async def test_a_json_round_trip_with_query_and_headers(server: ThreadedServer) -> None:
    async with service_client(server.url, timeout=5) as client:
        resp = await client.put("/echo/pictures/p-1/exif", json={"camera": "Ä"},
                                params={"version": 3, "also": ["a", "b"]},
                                headers=[("x-one", "1"), ("x-one", "2")])
        assert resp.status_code == 200
        body = resp.json()
        assert body == {"method": "PUT", "path": "pictures/p-1/exif",
                        "query": "version=3&also=a&also=b", "body": '{"camera":"Ä"}',
                        "x": ["1", "2"], "type": "application/json"}
        # the pooled connection is used again, and a bodyless request has no body
        again = await client.get("/echo/x")
        assert again.json()["body"] == "" and again.json()["method"] == "GET"


async def test_status_codes_and_headers_come_back_as_they_are(server: ThreadedServer) -> None:
    async with service_client(server.url, timeout=5) as client:
        for code in (201, 404, 409, 422, 503):
            resp = await client.get(f"/status/{code}")
            assert (resp.status_code, resp.text, resp.headers["x-back"]) == \
                (code, f"status {code}", "yes")
        with pytest.raises(httpx.HTTPStatusError):
            (await client.get("/status/500")).raise_for_status()


async def test_a_slow_answer_is_httpx_s_read_timeout(server: ThreadedServer) -> None:
    async with service_client(server.url, timeout=httpx.Timeout(0.3, connect=2)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow")


async def test_nobody_listening_is_httpx_s_connect_error() -> None:
    async with service_client(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/anything")


async def test_concurrent_requests_share_the_pool(server: ThreadedServer) -> None:
    async with service_client(server.url, timeout=5) as client:
        answers = await asyncio.gather(*(client.post(f"/echo/{i}", content=b"x" * i)
                                         for i in range(40)))
        assert [len(a.json()["body"]) for a in answers] == list(range(40))
