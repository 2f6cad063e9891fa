"""Choreography against real NATS, moto, Temporal and our services: no conductor, only events.
Also garbage collection, which runs through events in both modes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import nats
import pytest

from functions.trigger import Trigger
from picadaily.deadletters import list_dead_letters, redrive
from picadaily.ids import new_picture_id
from picadaily.layout import COLLAGE_KEY, COLLAGE_MEMBERS_METADATA, thumbnail_key
from picadaily.settings import Settings
from picadaily.steps import Step
from picadaily.storage import s3_client
from tests.conftest import PHOTOS
from tests.exif_photos import jpeg_with_exif

from .helpers import (
    arm_fault,
    put_picture,
    storage_event_bodies,
    upload_and_trigger,
    wait_final,
    wait_for,
)

CAT = PHOTOS / "good" / "chelsea_exif_rotated.jpg"
PIPELINE = [Step.ANALYSE_IMAGE, Step.CHECK_SAFETY, Step.STORE_METADATA, Step.MAKE_THUMBNAIL,
            Step.UPDATE_COLLAGE]


def assert_choreographed(steps: list[str]) -> None:
    """Every step once; store_metadata and make_thumbnail run side by side (both react to
    picture.analyzed), so only the real dependencies are ordered. (``extract_exif`` runs beside
    them all, from ``picture.uploaded``, and ``done`` does not wait for it.)"""
    steps = [s for s in steps if s != Step.EXTRACT_EXIF]
    assert sorted(steps) == sorted(PIPELINE)
    assert steps[:2] == [Step.ANALYSE_IMAGE, Step.CHECK_SAFETY]
    assert steps.index(Step.MAKE_THUMBNAIL) < steps.index(Step.UPDATE_COLLAGE)


def collage_members(settings: Settings) -> list[str]:
    head = s3_client(settings).head_object(Bucket=settings.thumbnails_bucket, Key=COLLAGE_KEY)
    members: str = head["Metadata"][COLLAGE_MEMBERS_METADATA]
    return members.split(",")


async def test_a_picture_goes_through_the_choreography_to_done(pipeline: Trigger) -> None:
    picture_id = await upload_and_trigger(pipeline, CAT, mode="choreography")
    doc = await wait_final(pipeline.settings, picture_id)
    assert doc["status"] == "done", doc["error"]
    assert doc["mode"] == "choreography"
    assert_choreographed([t["step"] for t in doc["timeline"]])
    assert all(t["mode"] == "choreography" and t["outcome"] == "ok" for t in doc["timeline"])
    assert {"cat", "animal"} <= {label["name"] for label in doc["labels"]}
    assert doc["thumbnail"]["width"] > doc["thumbnail"]["height"]
    assert collage_members(pipeline.settings) == [picture_id]


async def test_a_new_subscriber_adds_exif_and_place_without_changing_anything_else(
        pipeline: Trigger, tmp_path: Path) -> None:
    """The EXIF service joined by subscribing to picture.uploaded; metadata stores what it
    publishes. The pipeline did not change: done does not wait for it."""
    photo = tmp_path / "paris.jpg"
    photo.write_bytes(jpeg_with_exif())
    picture_id = await upload_and_trigger(pipeline, photo, mode="choreography")
    assert (await wait_final(pipeline.settings, picture_id))["status"] == "done"
    doc = await wait_for(pipeline.settings, picture_id, lambda d: d["exif"] is not None)
    assert doc["exif"]["camera"] == "Canon EOS 5D Mark IV"
    assert doc["exif"]["place"] == "Paris, Île-de-France, France"
    exif_steps = [t for t in doc["timeline"] if t["step"] == Step.EXTRACT_EXIF]
    assert [(t["outcome"], t["mode"]) for t in exif_steps] == [("ok", "choreography")]
    assert_choreographed([t["step"] for t in doc["timeline"]])


async def test_the_same_storage_event_twice_changes_nothing_the_second_time(
    pipeline: Trigger,
) -> None:
    picture_id = put_picture(pipeline.settings, CAT, mode="choreography")
    [body] = await storage_event_bodies(pipeline.settings, 1)
    await pipeline.handle(body)
    await pipeline.handle(body)
    doc = await wait_final(pipeline.settings, picture_id)
    await pipeline.handle(body)  # and again once it is done
    # Checking that nothing more happens: a second run of the pipeline would have shown within
    # a second (the whole first run takes a few hundred ms here, events included).
    await asyncio.sleep(1.0)
    again = await wait_final(pipeline.settings, picture_id)
    assert_choreographed([t["step"] for t in again["timeline"]])
    assert again["status"] == doc["status"] == "done"
    listed = s3_client(pipeline.settings).list_objects_v2(
        Bucket=pipeline.settings.thumbnails_bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted([thumbnail_key(picture_id), COLLAGE_KEY])


async def test_a_handler_that_fails_twice_then_succeeds_yields_one_result(
    pipeline: Trigger,
) -> None:
    settings = pipeline.settings
    picture_id = new_picture_id()
    await arm_fault(settings.thumbnails_url, Step.MAKE_THUMBNAIL, times=2, picture_id=picture_id)
    await upload_and_trigger(pipeline, CAT, mode="choreography", key=picture_id)
    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "done", doc["error"]
    thumbs = [(t["attempt"], t["outcome"]) for t in doc["timeline"]
              if t["step"] == Step.MAKE_THUMBNAIL]
    assert thumbs == [(1, "error"), (2, "error"), (3, "ok")]
    assert [t["step"] for t in doc["timeline"]].count(Step.UPDATE_COLLAGE) == 1
    listed = s3_client(settings).list_objects_v2(Bucket=settings.thumbnails_bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted([thumbnail_key(picture_id), COLLAGE_KEY])


async def test_a_poison_message_is_dead_lettered_and_can_be_redriven(pipeline: Trigger) -> None:
    settings = pipeline.settings
    picture_id = new_picture_id()
    await arm_fault(settings.thumbnails_url, Step.MAKE_THUMBNAIL, times=-1, picture_id=picture_id)
    await upload_and_trigger(pipeline, CAT, mode="choreography", key=picture_id)

    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "failed"
    assert doc["error"].startswith("make_thumbnail failed after 4 attempts: injected fault")
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        [letter] = await list_dead_letters(js, settings)
        assert (letter.picture_id, letter.step, letter.deliveries) == (
            picture_id, Step.MAKE_THUMBNAIL, 4)
        assert letter.consumer == "thumbnails-analyzed"

        async with httpx.AsyncClient(base_url=settings.thumbnails_url) as client:
            (await client.delete("/admin/faults")).raise_for_status()  # the fault is fixed
        async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
            await redrive(js, settings, metadata, letter.seq)
        assert await list_dead_letters(js, settings) == []
    finally:
        await nc.drain()
    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "done", doc["error"]
    assert doc["error"] is None and doc["thumbnail"] is not None
    # Only the consumer that gave up saw the event again: the metadata stored it once.
    stored = [t for t in doc["timeline"] if t["step"] == Step.STORE_METADATA]
    assert [t["outcome"] for t in stored] == ["ok"]


async def wait_gone(settings: Settings, picture_id: str, limit_s: float = 30) -> None:
    s3 = s3_client(settings)
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=settings.metadata_url) as client:
        while time.monotonic() < deadline:
            doc_gone = (await client.get(f"/pictures/{picture_id}")).status_code == 404
            thumbs = s3.list_objects_v2(Bucket=settings.thumbnails_bucket).get("Contents", [])
            thumb_gone = thumbnail_key(picture_id) not in {o["Key"] for o in thumbs}
            collage_clean = not any(o["Key"] == COLLAGE_KEY for o in thumbs) or \
                picture_id not in collage_members(settings)
            if doc_gone and thumb_gone and collage_clean:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{picture_id}: document, thumbnail or collage place still there")


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
async def test_deleting_the_object_garbage_collects_everything_in_both_modes(
    pipeline: Trigger, mode: str,
) -> None:
    settings = pipeline.settings
    keep = await upload_and_trigger(pipeline, PHOTOS / "good" / "coffee.png", mode=mode)
    gone = await upload_and_trigger(pipeline, PHOTOS / "good" / "rocket.jpg", mode=mode)
    assert (await wait_final(settings, keep))["status"] == "done"
    assert (await wait_final(settings, gone))["status"] == "done"
    assert collage_members(settings) == [gone, keep]

    s3_client(settings).delete_object(Bucket=settings.pictures_bucket, Key=gone)
    [body] = await storage_event_bodies(settings, 1)
    await pipeline.handle(body)
    await wait_gone(settings, gone)
    assert collage_members(settings) == [keep]
    assert (await wait_final(settings, keep))["status"] == "done"
