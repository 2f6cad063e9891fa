"""The orchestrated pipeline against real NATS, moto, Temporal and our services over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from functions.trigger import Trigger
from picadaily.ids import new_picture_id, workflow_id_for
from picadaily.layout import COLLAGE_KEY, COLLAGE_MEMBERS_METADATA, thumbnail_key
from picadaily.steps import PIPELINE, Step
from picadaily.storage import s3_client
from tests.conftest import PHOTOS
from tests.exif_photos import jpeg_with_exif

from .helpers import (
    arm_fault,
    put_picture,
    storage_event_bodies,
    upload_and_trigger,
    wait_final,
)

CAT = PHOTOS / "good" / "chelsea_exif_rotated.jpg"


async def _runs(client: Client, picture_id: str) -> list[Any]:
    wid = workflow_id_for(picture_id)
    return [w async for w in client.list_workflows(f"WorkflowId = '{wid}'")]


async def test_a_duplicated_storage_event_yields_one_workflow_run(
    pipeline: Trigger, temporal_client: Client
) -> None:
    settings = pipeline.settings
    picture_id = put_picture(settings, CAT)
    [body] = await storage_event_bodies(settings, 1)

    await pipeline.handle(body)
    await pipeline.handle(body)  # at-least-once delivery: the same event again
    first = await temporal_client.get_workflow_handle(workflow_id_for(picture_id)).describe()
    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "done"

    await pipeline.handle(body)  # and once more after the run finished
    after = await temporal_client.get_workflow_handle(workflow_id_for(picture_id)).describe()
    assert after.run_id == first.run_id
    handle = temporal_client.get_workflow_handle(workflow_id_for(picture_id))
    history = await handle.fetch_history()
    started = [e for e in history.events
               if e.HasField("workflow_execution_started_event_attributes")]
    assert len(started) == 1
    steps = [t["step"] for t in (await wait_final(settings, picture_id))["timeline"]]
    assert steps.count(Step.ANALYSE_IMAGE) == 1
    assert steps == list(PIPELINE)  # each step once, in the workflow's order


async def test_a_step_that_fails_once_is_retried_and_the_picture_ends_done(
    pipeline: Trigger,
) -> None:
    settings = pipeline.settings
    picture_id = new_picture_id()
    await arm_fault(settings.thumbnails_url, Step.MAKE_THUMBNAIL, times=1, picture_id=picture_id)
    await upload_and_trigger(pipeline, CAT, key=picture_id)

    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "done", doc["error"]
    thumbs = [t for t in doc["timeline"] if t["step"] == Step.MAKE_THUMBNAIL]
    assert [(t["attempt"], t["outcome"]) for t in thumbs] == [(1, "error"), (2, "ok")]
    assert "injected fault" in thumbs[0]["error"]
    assert doc["thumbnail"] is not None


async def test_a_step_that_always_fails_ends_failed_with_no_half_made_artefacts(
    pipeline: Trigger,
) -> None:
    settings = pipeline.settings
    picture_id = new_picture_id()
    await arm_fault(settings.collage_url, Step.UPDATE_COLLAGE, times=-1, picture_id=picture_id)
    await upload_and_trigger(pipeline, CAT, key=picture_id)

    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "failed"
    assert doc["error"].startswith("update_collage failed after 3 s of retries: injected fault")
    collage_attempts = [t for t in doc["timeline"] if t["step"] == Step.UPDATE_COLLAGE]
    # retried until the budget ran out: how many attempts fit in it depends on the machine's load
    assert len(collage_attempts) >= 2 and all(t["outcome"] == "error" for t in collage_attempts)
    # The thumbnail made by the step before was cleaned up, and the metadata says so.
    s3 = s3_client(settings)
    listed = s3.list_objects_v2(Bucket=settings.thumbnails_bucket).get("Contents", [])
    assert thumbnail_key(picture_id) not in {o["Key"] for o in listed}
    assert doc["thumbnail"] is None
    # The original stays: nothing the user uploaded is lost.
    assert s3.head_object(Bucket=settings.pictures_bucket, Key=picture_id)


async def test_an_unreadable_picture_fails_at_once_without_retries(pipeline: Trigger) -> None:
    settings = pipeline.settings
    picture_id = await upload_and_trigger(pipeline, PHOTOS / "bad" / "truncated.jpg")

    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "failed"
    assert "damaged or incomplete" in doc["error"]
    analyse = [t for t in doc["timeline"] if t["step"] == Step.ANALYSE_IMAGE]
    assert len(analyse) == 1, "a rejected image must not be retried"


async def test_the_collage_holds_the_newest_four(pipeline: Trigger) -> None:
    settings = pipeline.settings
    ids = []
    for name in ("coffee.png", "rocket.jpg", "chelsea.png", "horse.png", "brick.png"):
        ids.append(put_picture(settings, PHOTOS / "good" / name))
    for body in await storage_event_bodies(settings, len(ids)):
        await pipeline.handle(body)
    docs = [await wait_final(settings, picture_id) for picture_id in ids]
    assert [d["status"] for d in docs] == ["done"] * len(ids)
    head = s3_client(settings).head_object(Bucket=settings.thumbnails_bucket, Key=COLLAGE_KEY)
    members = head["Metadata"][COLLAGE_MEMBERS_METADATA].split(",")
    # (said in full when it fails: which pictures, created when, in the collage or not)
    assert members == list(reversed(ids))[:4], [
        (d["id"], d["created"], d["id"] in members, [t["step"] for t in d["timeline"]])
        for d in docs]


async def test_the_workflow_extracts_exif_and_place_as_a_versioned_step(
        pipeline: Trigger, tmp_path: Path) -> None:
    photo = tmp_path / "sydney.jpg"
    photo.write_bytes(jpeg_with_exif(position=(-33.8688, 151.2093), make="FUJIFILM",
                                     model="X-T3", lens=None))
    picture_id = await upload_and_trigger(pipeline, photo, mode="orchestration")
    doc = await wait_final(pipeline.settings, picture_id)
    assert doc["status"] == "done", doc["error"]
    exif = doc["exif"]
    assert (exif["camera"], exif["year"], exif["lens"]) == ("FUJIFILM X-T3", 2019, None)
    assert exif["place"] and exif["place"].endswith("Australia")
    assert [t["step"] for t in doc["timeline"]][:2] == [Step.ANALYSE_IMAGE, Step.EXTRACT_EXIF]


async def test_a_run_terminated_from_outside_still_ends_the_picture(
    pipeline: Trigger, temporal_client: Client
) -> None:
    """``temporal workflow terminate`` (Temporal's frontend takes any local caller): the next
    storage event for the picture (the reconciler replays a stuck one's) is no duplicate of a
    live run; the picture fails with the reason instead of staying processing for ever."""
    import httpx

    settings = pipeline.settings
    async with httpx.AsyncClient(base_url=settings.vision_url) as vision:  # a slow first step
        (await vision.post("/admin/faults", json={"step": Step.ANALYSE_IMAGE, "times": 1,
                                                  "delay_s": 2, "fail": False})
         ).raise_for_status()
    picture_id = put_picture(settings, CAT)
    [body] = await storage_event_bodies(settings, 1)
    await pipeline.handle(body)
    handle = temporal_client.get_workflow_handle(workflow_id_for(picture_id))
    await handle.terminate(reason="an intruder with the temporal CLI")
    await pipeline.handle(body)  # the replay
    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "failed"
    assert "ended without finishing" in doc["error"] and "terminated" in doc["error"]
    assert len(await _runs(temporal_client, picture_id)) == 1
