"""Helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from functions.seaweedfs.source import SeaweedfsSource
from functions.trigger import Trigger
from picadaily.ids import new_picture_id
from picadaily.nats_util import close_nats
from picadaily.settings import Settings
from picadaily.steps import FINAL_STATUSES
from picadaily.storage import s3_client
from picadaily.storage_events import subject_for
from picadaily.streams import open_kv, provision_streams


def put_picture(settings: Settings, path: Path, key: str | None = None,
                mode: str | None = None) -> str:
    key = key or new_picture_id()
    metadata = {"filename": path.name, **({"mode": mode} if mode else {})}
    s3_client(settings).put_object(
        Bucket=settings.pictures_bucket, Key=key, Body=path.read_bytes(),
        ContentType="image/jpeg", Metadata=metadata)
    return key


async def new_storage_events(js: Any, settings: Settings) -> Any:
    """A subscription to the storage events published from now on (not earlier ones)."""
    await provision_streams(js, settings)
    return await js.subscribe(subject_for(settings.pictures_bucket),
                              stream=settings.storage_stream,
                              config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW))


async def storage_event_bodies(settings: Settings, count: int) -> list[bytes]:
    """Run the real SeaweedFS event source until ``count`` storage events reached NATS; return
    their bodies."""
    nc = await nats.connect(settings.nats_url)
    stop = asyncio.Event()
    try:
        js = nc.jetstream()
        sub = await new_storage_events(js, settings)
        async with grpc.aio.insecure_channel(settings.seaweedfs_filer_grpc) as channel:
            source = SeaweedfsSource(settings, js, await open_kv(js, settings), channel)
            task = asyncio.create_task(source.run(stop))
            bodies: list[bytes] = []
            deadline = time.monotonic() + 20
            while len(bodies) < count and time.monotonic() < deadline:
                try:
                    bodies.append((await sub.next_msg(timeout=0.2)).data)
                except TimeoutError:
                    continue
            stop.set()
            await task
        assert len(bodies) == count, f"got {len(bodies)} of {count} storage events"
        return bodies
    finally:
        await close_nats(nc)


async def upload_and_trigger(pipeline: Trigger, path: Path, *, mode: str | None = None,
                             key: str | None = None) -> str:
    """Put a picture into the bucket and let the real event source and trigger pick it up."""
    picture_id = put_picture(pipeline.settings, path, key=key, mode=mode)
    [body] = await storage_event_bodies(pipeline.settings, 1)
    await pipeline.handle(body)
    return picture_id


async def wait_final(settings: Settings, picture_id: str, limit_s: float = 60) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=settings.metadata_url) as client:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            resp = await client.get(f"/pictures/{picture_id}")
            if resp.status_code == 200 and resp.json()["status"] in FINAL_STATUSES:
                doc: dict[str, Any] = resp.json()
                return doc
            await asyncio.sleep(0.1)
    raise TimeoutError(
        f"picture {picture_id} did not reach a final status in {limit_s} s: {resp.text}")


async def wait_for(settings: Settings, picture_id: str, check: Callable[[dict[str, Any]], bool],
                   limit_s: float = 30) -> dict[str, Any]:
    """The picture's document once ``check`` holds for it."""
    async with httpx.AsyncClient(base_url=settings.metadata_url) as client:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            resp = await client.get(f"/pictures/{picture_id}")
            if resp.status_code == 200 and check(doc := resp.json()):
                return dict(doc)
            await asyncio.sleep(0.1)
    raise TimeoutError(f"picture {picture_id}: the condition did not hold in {limit_s} s: "
                       f"{resp.text}")


async def arm_fault(url: str, step: str, times: int, picture_id: str | None = None) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        resp = await client.post("/admin/faults", content=json.dumps(
            {"step": step, "times": times, "picture_id": picture_id}),
            headers={"content-type": "application/json"})
        resp.raise_for_status()
