"""NATS users per component (infra/nats/picadaily.conf, what docker-compose.yml runs), on the
local nats-server: no anonymous client gets in; a component cannot send what is not its part
(a deletion, the mode switch, a review decision, a stream purge); and the pipeline still runs in
both modes, a deletion included, with every component on its own user."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from temporalio.client import Client

from cli.ports import free_port
from cli.stack import binary
from functions.trigger import Trigger
from picadaily.contracts import utcnow
from picadaily.event_data import PictureDeleted, PictureReviewDecided
from picadaily.events import Event, EventBus, schedule_subject
from picadaily.mode import ModeSwitch
from picadaily.nats_util import close_nats
from picadaily.settings import Settings, service_port
from picadaily.storage import s3_client
from picadaily.streams import open_kv, provision_streams
from tests.conftest import PHOTOS
from tests.servers import ThreadedServer, process

from .helpers import put_picture, storage_event_bodies, wait_final
from .pipeline import running_pipeline

CONFIG = Path(__file__).resolve().parents[2] / "infra" / "nats" / "picadaily.conf"
ROLES = ("PROVISION", "FRONTEND", "LAB", "TRIGGER", "RECONCILER", "METADATA", "SERVICE", "SOURCE",
         "MINIO")
PASSWORDS = {role: f"test-{role.lower()}-password" for role in ROLES}
SERVICE_USERS = ("vision", "thumbnails", "collage", "exif")
# What a client sees when the server drops a publish it may not make: no acknowledgement.
REFUSED = (nats.errors.TimeoutError, nats.errors.Error)


def wait(allowed: bool) -> float:
    """How long a publish waits for its acknowledgement: one that is refused never gets one."""
    return 5.0 if allowed else 0.7


def password_of(user: str) -> str:
    return PASSWORDS["SERVICE" if user in SERVICE_USERS else user.upper()]


@pytest.fixture
def nats_port(tmp_path: Path) -> Iterator[int]:
    """A server of its own per test: the subjects are the real ones (the config names them)."""
    tmp = tmp_path
    port = free_port()
    env = {f"NATS_{role}_PASSWORD": pw for role, pw in PASSWORDS.items()}
    with process([binary("nats-server"), "-c", str(CONFIG), "-a", "127.0.0.1", "-p", str(port),
                  "-m", str(free_port()), "-sd", str(tmp / "js")], port, tmp / "nats.log",
                 name="nats-server with users", env=env):
        yield port


def url(port: int, user: str) -> str:
    return f"nats://{user}:{password_of(user)}@127.0.0.1:{port}"


@pytest.fixture
def settings_override(settings: Settings, nats_port: int) -> Settings:
    """Streams provisioned by the provision user; every part below gets its own user."""
    defaults = Settings()
    return settings.model_copy(update={
        "nats_url": url(nats_port, "provision"), "event_prefix": defaults.event_prefix,
        "kv_bucket": defaults.kv_bucket, "events_stream": defaults.events_stream,
        "dead_letter_stream": defaults.dead_letter_stream})


@contextlib.asynccontextmanager
async def connected(port: int, user: str) -> AsyncIterator[Any]:
    nc = await nats.connect(url(port, user), max_reconnect_attempts=0, allow_reconnect=False)
    try:
        yield nc
    finally:
        await close_nats(nc)


async def test_an_anonymous_client_is_refused(nats_port: int) -> None:
    """In NATS's own protocol (no client library in between): CONNECT without a user, or with
    a wrong password, is an authorization violation."""
    for credentials in ({}, {"user": "vision", "pass": "wrong"}):
        reader, writer = await asyncio.open_connection("127.0.0.1", nats_port)
        try:
            assert (await reader.readline()).startswith(b"INFO ")
            connect = {"verbose": False, "pedantic": False, **credentials}
            writer.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), 5)
            assert answer.startswith(b"-ERR 'Authorization Violation'"), answer
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize(("user", "allowed"), [
    ("vision", False), ("exif", False), ("metadata", False), ("minio", False), ("source", False),
    ("trigger", True), ("reconciler", True)])
async def test_only_the_trigger_and_the_reconciler_publish_a_deletion(
        settings_override: Settings, nats_port: int, user: str, allowed: bool) -> None:
    async with connected(nats_port, "provision") as admin:
        await provision_streams(admin.jetstream(), settings_override)
    async with connected(nats_port, user) as nc:
        bus = EventBus(nc.jetstream(timeout=wait(allowed)), settings_override,
                       f"picadaily/{user}")
        deletion = bus.publish(Event(PictureDeleted(), "p1", None))
        if allowed:
            await deletion
        else:
            with pytest.raises(REFUSED):  # no ack: the server drops what is not allowed
                await deletion


@pytest.mark.parametrize(("user", "allowed"), [
    ("frontend", True), ("vision", False), ("trigger", False), ("metadata", False)])
async def test_only_the_frontend_flips_the_mode(settings_override: Settings, nats_port: int,
                                               user: str, allowed: bool) -> None:
    async with connected(nats_port, "provision") as admin:
        await open_kv(admin.jetstream(), settings_override)
    async with connected(nats_port, user) as nc:
        kv = await nc.jetstream(timeout=wait(allowed)).key_value(settings_override.kv_bucket)
        switch = ModeSwitch(kv, "orchestration")
        if allowed:
            await switch.set("choreography")
            assert await switch.get() == "choreography"
        else:
            with pytest.raises(REFUSED):
                await switch.set("choreography")


async def test_only_metadata_schedules_and_cancels_review_timeouts(
        settings_override: Settings, nats_port: int) -> None:
    async with connected(nats_port, "provision") as admin:
        await provision_streams(admin.jetstream(), settings_override)
    later = utcnow() + timedelta(hours=1)
    event = Event(PictureReviewDecided(decision="reject"), "p1", "choreography")
    async with connected(nats_port, "metadata") as nc:
        bus = EventBus(nc.jetstream(timeout=wait(True)), settings_override, "picadaily/metadata")
        await bus.schedule(event, later, "review.p1")
        await bus.cancel_schedule("review.p1")
    async with connected(nats_port, "vision") as nc:
        bus = EventBus(nc.jetstream(timeout=wait(False)), settings_override, "picadaily/vision")
        with pytest.raises(REFUSED):
            await bus.schedule(event, later, "review.p1")
        with pytest.raises(REFUSED):
            await bus.publish(event)  # a review decision
        with pytest.raises(REFUSED):
            await bus.cancel_schedule("review.p1")
    assert schedule_subject(settings_override, "review.p1") == "picadaily.schedules.review.p1"


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
async def test_the_pipeline_runs_with_every_component_on_its_own_user(
        provisioned: Settings, temporal_client: Client, nats_port: int, mode: str) -> None:
    from services.collage.http import create_app as collage_app
    from services.exif.http import create_app as exif_app
    from services.metadata.http import create_app as metadata_app
    from services.thumbnails.http import create_app as thumbnails_app
    from services.vision.http import create_app as vision_app

    s = provisioned

    def own(user: str) -> Settings:
        return s.model_copy(update={"nats_url": url(nats_port, user)})

    with contextlib.ExitStack() as stack:
        for name, factory in (("metadata", metadata_app), ("vision", vision_app),
                              ("thumbnails", thumbnails_app), ("collage", collage_app),
                              ("exif", exif_app)):
            stack.enter_context(ThreadedServer(factory(own(name)),
                                               port=service_port(getattr(s, f"{name}_url"))))
        async with running_pipeline(own("trigger"), temporal_client) as trigger:
            await _one_picture_and_its_deletion(trigger, own("source"), mode)


async def _one_picture_and_its_deletion(trigger: Trigger, source: Settings, mode: str) -> None:
    """The storage events come from our SeaweedFS source on its own user."""
    settings = trigger.settings
    picture_id = put_picture(settings, PHOTOS / "good" / "coffee.png", mode=mode)
    [body] = await storage_event_bodies(source, 1)
    await trigger.handle(body)
    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "done", doc
    s3_client(settings).delete_object(Bucket=settings.pictures_bucket, Key=picture_id)
    [body] = await storage_event_bodies(source, 1)
    await trigger.handle(body)  # the trigger publishes picture.deleted: its user may
    async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
        for _ in range(100):
            if (await metadata.get(f"/pictures/{picture_id}")).status_code == 404:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{picture_id} was not garbage-collected")


def test_the_compose_file_gives_every_component_its_user() -> None:
    """Every NATS user in the config has its password in .env.example's list, and compose
    passes each component a URL with its own user."""
    text = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    for user in ("frontend", "trigger", "reconciler", "metadata", "vision", "thumbnails",
                 "collage", "exif", "provision", "source"):
        assert f"nats://{user}:" in text, user
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for role in ROLES:
        assert f"NATS_{role}_PASSWORD=" in example, role
    assert os.path.exists(CONFIG)
