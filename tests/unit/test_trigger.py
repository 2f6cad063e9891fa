"""The trigger's mode and duplicate logic, with in-memory fakes of the message port, the mode
switch and Temporal, and the real metadata app in process (ASGI transport, in-memory
repository)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError

from functions.trigger import Trigger
from picadaily.events import EventBus
from picadaily.mode import MODE_KEY, ModeSwitch
from picadaily.settings import Mode, Settings
from picadaily.steps import Status
from services.metadata.core import Metadata
from services.metadata.http import create_app
from services.metadata.repository import InMemoryPictures
from tests.fakes import FakeJetStream, FakeKv

SETTINGS = Settings(event_prefix="pd", pictures_bucket="pictures", event_edges=False)


@dataclass
class FakeTemporal:
    started: list[str] = field(default_factory=list)
    ended: dict[str, WorkflowExecutionStatus] = field(default_factory=dict)  # ended from outside

    async def start_workflow(self, run: Any, arg: Any, *, id: str, **_: Any) -> None:
        if id in self.started:
            raise WorkflowAlreadyStartedError(id, "ProcessPicture")
        self.started.append(id)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        status = self.ended.get(workflow_id, WorkflowExecutionStatus.RUNNING)

        async def describe() -> Any:
            return SimpleNamespace(status=status)

        return SimpleNamespace(describe=describe)


@dataclass
class World:
    trigger: Trigger
    temporal: FakeTemporal
    js: FakeJetStream
    kv: FakeKv
    metadata: httpx.AsyncClient
    core: Metadata

    def published(self, kind: str) -> list[dict[str, Any]]:
        return [body for subject, body, _ in self.js.published if subject == f"pd.{kind}"]

    async def flip(self, mode: Mode) -> None:
        await self.kv.put(MODE_KEY, mode.encode())


@pytest.fixture
async def world() -> AsyncIterator[World]:
    app = create_app(SETTINGS, repo=InMemoryPictures())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://metadata") as metadata:
        js, kv, temporal = FakeJetStream(), FakeKv(), FakeTemporal()
        trigger = Trigger(SETTINGS, temporal, ModeSwitch(kv, "orchestration"), metadata,
                          EventBus(js, SETTINGS, "picadaily/trigger"))
        yield World(trigger, temporal, js, kv, metadata, app.state.metadata)


def storage_event(key: str, kind: str = "created", mode: str | None = None,
                  time: str = "2026-11-25T10:00:00.000Z", etag: str = "e1") -> bytes:
    obj: dict[str, Any] = {"key": key, "sequencer": f"s-{kind}-{time}"}
    if kind == "created":
        meta = {"X-Amz-Meta-Filename": "cat.jpg", **({"X-Amz-Meta-Mode": mode} if mode else {})}
        obj.update(size=10, eTag=etag, contentType="image/jpeg", userMetadata=meta)
    name = "s3:ObjectCreated:Put" if kind == "created" else "s3:ObjectRemoved:Delete"
    return json.dumps({"EventName": name, "Key": f"pictures/{key}", "Records": [{
        "eventName": name, "eventTime": time,
        "s3": {"bucket": {"name": "pictures"}, "object": obj}}]}).encode()


async def test_the_switch_decides_a_new_picture_and_a_redelivery_keeps_that_mode(
        world: World) -> None:
    await world.trigger.handle(storage_event("p1"))
    assert world.temporal.started == ["picture-p1"]
    await world.flip("choreography")
    await world.trigger.handle(storage_event("p1"))  # redelivered after the flip
    assert world.temporal.started == ["picture-p1"]
    assert world.published("picture.uploaded") == []  # never processed by both pipelines
    doc = (await world.metadata.get("/pictures/p1")).json()
    assert doc["mode"] == "orchestration"


async def test_an_upload_asking_for_a_mode_gets_it_whatever_the_switch(world: World) -> None:
    await world.trigger.handle(storage_event("p2", mode="choreography"))
    await world.trigger.handle(storage_event("p2", mode="choreography"))
    assert world.temporal.started == []
    [uploaded] = world.published("picture.uploaded")
    assert uploaded["data"]["mode"] == "choreography"


async def test_a_created_event_redelivered_after_the_deletion_does_not_bring_it_back(
        world: World) -> None:
    await world.trigger.handle(storage_event("p3", mode="choreography"))
    await world.trigger.handle(storage_event("p3", kind="removed",
                                             time="2026-11-25T10:00:05.000Z"))
    [deleted] = world.published("picture.deleted")
    assert deleted["data"]["mode"] is None
    # what the metadata's garbage collection does with picture.deleted
    world.core.delete("p3", datetime.fromisoformat(deleted["data"]["deleted_at"]))
    await world.trigger.handle(storage_event("p3", mode="choreography"))  # the old object
    assert (await world.metadata.get("/pictures/p3")).status_code == 404
    assert len(world.published("picture.uploaded")) == 1
    # an object put under the same key after the deletion is a new picture
    await world.trigger.handle(storage_event("p3", mode="choreography", etag="e2",
                                             time="2026-11-25T10:00:09.000Z"))
    assert (await world.metadata.get("/pictures/p3")).json()["status"] == "processing"
    assert len(world.published("picture.uploaded")) == 2


async def test_a_storage_event_that_cannot_be_read_is_refused_with_its_reason(
        world: World) -> None:
    from picadaily.consumer import Unparsable

    with pytest.raises(Unparsable, match="not a MinIO storage notification"):
        await world.trigger.handle(b'{"Records": [{}]}')


async def test_an_overwrite_is_processed_as_a_new_version_never_under_the_old_verdict(
        world: World) -> None:
    await world.trigger.handle(storage_event("p5"))
    world.core.finish("p5", Status.DONE, version=1)
    await world.trigger.handle(storage_event("p5"))  # a redelivery: nothing to do
    assert world.temporal.started == ["picture-p5"]
    await world.trigger.handle(storage_event("p5", etag="e2", time="2026-11-25T10:05:00.000Z"))
    assert world.temporal.started == ["picture-p5", "picture-p5-v2"]
    doc = (await world.metadata.get("/pictures/p5")).json()
    assert (doc["status"], doc["version"], doc["etag"], doc["safety"]) == (
        "processing", 2, "e2", None)
    # the old run's late outcome is refused: version 1 no longer speaks for the picture
    resp = await world.metadata.put("/pictures/p5/status", params={"version": 1},
                                    json={"status": "done"})
    assert resp.status_code == 409 and resp.json()["retryable"] is False
    # a late event about the replaced original changes nothing
    await world.trigger.handle(storage_event("p5"))
    assert len(world.temporal.started) == 2
    assert (await world.metadata.get("/pictures/p5")).json()["version"] == 2


async def test_a_choreographed_overwrite_publishes_the_new_version(world: World) -> None:
    await world.trigger.handle(storage_event("p6", mode="choreography"))
    await world.trigger.handle(storage_event("p6", mode="choreography", etag="e2",
                                             time="2026-11-25T10:05:00.000Z"))
    first, second = world.published("picture.uploaded")
    assert (first["data"]["version"], second["data"]["version"]) == (1, 2)


async def test_a_key_put_again_after_its_deletion_gets_its_own_workflow(world: World) -> None:
    await world.trigger.handle(storage_event("p7"))
    await world.trigger.handle(storage_event("p7", kind="removed",
                                             time="2026-11-25T10:00:05.000Z"))
    [deleted] = world.published("picture.deleted")
    world.core.delete("p7", datetime.fromisoformat(deleted["data"]["deleted_at"]))
    await world.trigger.handle(storage_event("p7", etag="e2", time="2026-11-25T10:00:09.000Z"))
    assert world.temporal.started == ["picture-p7", "picture-p7-v2"]


@pytest.mark.parametrize("ended", [WorkflowExecutionStatus.TERMINATED,
                                   WorkflowExecutionStatus.CANCELED,
                                   WorkflowExecutionStatus.TIMED_OUT])
async def test_a_run_ended_from_outside_fails_the_picture_when_its_event_comes_again(
        world: World, ended: WorkflowExecutionStatus) -> None:
    """``temporal workflow terminate`` on a processing picture: the replayed storage event
    (the reconciler's) is no duplicate of a live run; the picture fails, with the reason."""
    await world.trigger.handle(storage_event("p9"))
    await world.trigger.handle(storage_event("p9"))  # a live run: a duplicate, nothing else
    assert world.published("picture.failed") == []
    world.temporal.ended["picture-p9"] = ended
    await world.trigger.handle(storage_event("p9"))
    [failed] = world.published("picture.failed")
    assert failed["data"]["run_ended"] is True
    assert ended.name.lower().replace("_", " ") in failed["data"]["reason"]
    assert "picture-p9" in failed["data"]["reason"]
    assert world.temporal.started == ["picture-p9"]  # never a second run
    world.temporal.ended["picture-p9"] = WorkflowExecutionStatus.COMPLETED
    await world.trigger.handle(storage_event("p9"))  # (JetStream would drop a repeat anyway)
    assert len(world.published("picture.failed")) == 1
