"""The reconciler repairs what no event can: a lost storage event, a lost original, an object
nobody registered. Real services, real SeaweedFS, real NATS; events removed on purpose."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import nats
import pytest

from functions.reconciler import ORIGINAL_MISSING, Reconciler, Report
from functions.trigger import Trigger
from picadaily.contracts import Registration, utcnow
from picadaily.events import EventBus
from picadaily.nats_util import close_nats
from picadaily.settings import Mode, Settings
from picadaily.storage import S3ObjectStore, s3_client
from tests.conftest import photos

from .helpers import new_storage_events, put_picture, upload_and_trigger, wait_final


@pytest.fixture
def settings_override(settings: Settings) -> Settings:
    return settings.model_copy(update={"reconcile_after_s": 0.0,
                                       "reconcile_unseen_after_s": 0.0})


async def reconcile(settings: Settings, full: bool = True) -> tuple[Report, list[bytes]]:
    """One reconciliation round; returns its report and the storage events it published."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        sub = await new_storage_events(js, settings)
        async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
            report = await Reconciler(settings, S3ObjectStore.from_settings(settings), metadata, js,
                                      EventBus(js, settings, "test")).run_once(full)
        bodies = []
        while True:
            try:
                bodies.append((await sub.next_msg(timeout=0.5)).data)
            except TimeoutError:
                return report, bodies
    finally:
        await close_nats(nc)


async def register(settings: Settings, picture_id: str, mode: Mode,
                   etag: str | None = None) -> None:
    """As the frontend registers an upload (no etag), or as the trigger does (its event's)."""
    async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
        resp = await metadata.put(f"/pictures/{picture_id}", json=Registration(
            object_key=picture_id, mode=mode, etag=etag).model_dump(mode="json"))
        resp.raise_for_status()


async def test_a_picture_whose_event_was_lost_still_ends_final(pipeline: Trigger) -> None:
    settings = pipeline.settings
    # An object in the bucket whose storage event never arrived (we do not run the source),
    # and an upload registered by the frontend whose event was lost the same way.
    unknown = put_picture(settings, photos("good")[0], mode="choreography")
    registered = put_picture(settings, photos("good")[1], mode="orchestration")
    await register(settings, registered, "orchestration")
    report, bodies = await reconcile(settings)
    assert sorted(report.discovered) == [unknown]
    assert report.replayed == [registered]
    for body in bodies:
        await pipeline.handle(body)
    for picture_id, mode in ((unknown, "choreography"), (registered, "orchestration")):
        doc = await wait_final(settings, picture_id)
        assert (doc["status"], doc["mode"]) == ("done", mode)
    # Nothing left to repair: a second round does nothing.
    report, bodies = await reconcile(settings)
    assert (report.replayed, report.failed, report.discovered, bodies) == (
        [], [], [], [])


async def test_a_picture_whose_original_is_gone_fails_with_the_reason(pipeline: Trigger) -> None:
    settings = pipeline.settings
    async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
        resp = await metadata.put("/pictures/lost-one", json=Registration(
            object_key="lost-one", created=utcnow() - timedelta(minutes=5)).model_dump(
                mode="json"))
        resp.raise_for_status()
    report, _ = await reconcile(settings)
    assert report.failed == ["lost-one"]
    doc = await wait_final(settings, "lost-one")
    assert (doc["status"], doc["error"]) == ("failed", ORIGINAL_MISSING)


async def test_a_deletion_whose_event_was_lost_is_still_garbage_collected(
        pipeline: Trigger) -> None:
    settings = pipeline.settings
    gone = await upload_and_trigger(pipeline, photos("good")[2], mode="choreography")
    assert (await wait_final(settings, gone))["status"] == "done"
    # The original is deleted, and its storage event never arrives (we do not run the source).
    s3_client(settings).delete_object(Bucket=settings.pictures_bucket, Key=gone)
    report, _ = await reconcile(settings)
    assert report.collected == [gone]
    async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
        for _ in range(100):
            if (await metadata.get(f"/pictures/{gone}")).status_code == 404:
                break
            await asyncio.sleep(0.1)
        assert (await metadata.get(f"/pictures/{gone}")).status_code == 404
    report, _ = await reconcile(settings)
    assert report.collected == []


async def test_a_light_round_repairs_stuck_pictures_and_leaves_the_library_alone(
        pipeline: Trigger) -> None:
    """Between full rounds the reconciler reads only what is still processing (the status
    index): a stuck upload is replayed, an object nobody registered waits for the full round."""
    settings = pipeline.settings
    unknown = put_picture(settings, photos("good")[0], mode="choreography")
    stuck = put_picture(settings, photos("good")[1], mode="orchestration")
    await register(settings, stuck, "orchestration")
    light, _ = await reconcile(settings, full=False)
    assert (light.replayed, light.discovered) == ([stuck], [])
    full, _ = await reconcile(settings)
    assert full.discovered == [unknown]


async def test_an_upload_whose_storage_event_never_came_is_replayed_sooner(
        pipeline: Trigger) -> None:
    """A picture the frontend registered (no etag yet) that the trigger never saw is replayed
    after ``reconcile_unseen_after_s``; one the trigger registered waits in some queue and gets
    the longer ``reconcile_after_s``."""
    settings = pipeline.settings.model_copy(update={"reconcile_after_s": 3600.0,
                                                    "reconcile_unseen_after_s": 0.0})
    unseen = put_picture(settings, photos("good")[0], mode="choreography")
    seen = put_picture(settings, photos("good")[1], mode="choreography")
    await register(settings, unseen, "choreography")
    await register(settings, seen, "choreography", etag="an-etag-from-its-event")
    light, bodies = await reconcile(settings, full=False)
    assert light.replayed == [unseen]
    for body in bodies:
        await pipeline.handle(body)
    assert (await wait_final(settings, unseen))["status"] == "done"
