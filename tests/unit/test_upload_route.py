"""The upload route's order and idempotency, in process: the frontend app over ASGI with the
in-memory object store, a KV fake, and a metadata stand-in (httpx MockTransport)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

from frontend.app import create_app
from frontend.deps import Frontend
from picadaily.mode import ModeSwitch
from picadaily.settings import Settings
from picadaily.storage import InMemoryObjectStore
from tests.fakes import FakeKv

SETTINGS = Settings(pictures_bucket="pictures")


class FlakyStore(InMemoryObjectStore):
    """Refuses to store the files whose names it is told (as S3 does when it is down)."""

    failing: set[str]

    def put(self, bucket: str, key: str, data: bytes, content_type: str,
            metadata: dict[str, str] | None = None) -> None:
        if (metadata or {}).get("filename") in self.failing:
            raise ConnectionError("the store is down")
        super().put(bucket, key, data, content_type, metadata)


@dataclass
class World:
    api: httpx.AsyncClient
    store: FlakyStore
    registered: list[str]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    registered: list[str] = []

    def metadata(request: httpx.Request) -> httpx.Response:
        registered.append(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={})

    store = FlakyStore()
    store.failing = set()
    app = create_app(SETTINGS)  # its lifespan (NATS, S3) is not run: the state is set here
    async with httpx.AsyncClient(transport=httpx.MockTransport(metadata),
                                 base_url="http://metadata") as meta:
        app.state.frontend = Frontend(settings=SETTINGS, metadata=meta,
                                      store=store,  # type: ignore[arg-type]
                                      modes=ModeSwitch(FakeKv(), "orchestration"), nats=None,
                                      kv=FakeKv())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://frontend") as api:
            yield World(api, store, registered)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def files(*names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("pictures", (name, jpeg(), "image/jpeg")) for name in names]


async def test_a_storage_error_on_one_file_refuses_that_file_and_keeps_the_others(
        world: World) -> None:
    world.store.failing = {"b.jpg"}
    resp = await world.api.post("/api/pictures", files=files("a.jpg", "b.jpg", "c.jpg"))
    assert resp.status_code == 202
    body = resp.json()
    assert [a["name"] for a in body["accepted"]] == ["a.jpg", "c.jpg"]
    assert [(r["name"], r["status"]) for r in body["refused"]] == [("b.jpg", 503)]
    # the object first, then the document: only stored pictures were registered
    stored = sorted(key for _, key in world.store.objects)
    assert sorted(world.registered) == stored == sorted(a["id"] for a in body["accepted"])


async def test_a_retried_upload_with_the_same_idempotency_key_gets_the_same_ids(
        world: World) -> None:
    headers = {"Idempotency-Key": "upload-42"}
    first = await world.api.post("/api/pictures", files=files("a.jpg", "b.jpg"), headers=headers)
    again = await world.api.post("/api/pictures", files=files("a.jpg", "b.jpg"), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert len(world.store.objects) == 2
    other = await world.api.post("/api/pictures", files=files("a.jpg"), headers=headers)
    assert other.status_code == 409 and "2 files" in other.json()["error"]


async def test_a_retry_after_a_failed_store_writes_the_same_pictures_not_new_ones(
        world: World) -> None:
    headers = {"Idempotency-Key": "upload-43"}
    world.store.failing = {"a.jpg"}
    failed = await world.api.post("/api/pictures", files=files("a.jpg"), headers=headers)
    assert failed.status_code == 503
    world.store.failing = set()
    retried = await world.api.post("/api/pictures", files=files("a.jpg"), headers=headers)
    assert retried.status_code == 202
    [(bucket, key)] = list(world.store.objects)
    assert retried.json()["accepted"][0]["id"] == key
    assert world.store.objects[(bucket, key)].metadata == {"filename": "a.jpg"}


async def test_a_request_over_the_whole_body_limit_is_refused_before_it_is_parsed() -> None:
    from frontend.body_limit import BodyLimit

    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        reached.append("app")
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    limited = BodyLimit(app, limit=1000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited),
                                 base_url="http://frontend") as client:
        declared = await client.post("/api/pictures", content=b"x" * 2000)
        assert declared.status_code == 413 and "too large" in declared.json()["error"]
        assert reached == []

        async def chunks() -> Any:
            for _ in range(5):
                yield b"x" * 400

        streamed = await client.post("/api/pictures", content=chunks())
        assert streamed.status_code == 413
        small = await client.post("/api/pictures", content=b"x" * 10)
        assert small.status_code == 400 and reached == ["app"]


async def _uploaded(size: int) -> Any:
    """The UploadFile Starlette's parser makes of one file of ``size`` bytes, sent in 64 KB
    pieces as a client would."""
    from starlette.requests import Request

    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"pictures\"; "
            f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + \
        b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]

    async def receive() -> dict[str, Any]:
        piece = pieces.pop(0) if pieces else b""
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    scope = {"type": "http", "method": "POST", "path": "/api/pictures", "headers": [
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode())]}
    form = await Request(scope, receive).form()
    return form["pictures"]


async def test_a_phone_photo_is_held_in_memory_and_only_a_larger_file_spools_to_disk() -> None:
    from frontend.app import UPLOAD_IN_MEMORY_BYTES

    create_app(SETTINGS)
    photo = await _uploaded(4 * 1024 * 1024)  # a 12 MP phone photo is 3-5 MB
    try:
        assert photo._in_memory  # (past Starlette's 1 MB default: a thread hop per 64 KB)
        assert len(await photo.read()) == 4 * 1024 * 1024
    finally:
        await photo.close()
    larger = await _uploaded(UPLOAD_IN_MEMORY_BYTES + 1)
    try:
        assert not larger._in_memory
    finally:
        await larger.close()
