"""Moderation, both modes, through the real frontend route: the Cloud Vision stand-in answers
``racy POSSIBLE`` (a borderline verdict, deterministically), the picture waits in
``awaiting_review``, an admin approves or rejects it, or nobody does and the timeout rejects it.
Orchestration waits on the workflow's Update and timer; choreography on the metadata row and a
JetStream scheduled message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from functions.trigger import Trigger
from picadaily.settings import Settings
from picadaily.steps import Status, Step
from picadaily.storage import s3_client
from tests.conftest import PHOTOS
from tests.integration.test_cloud_vision import FakeCloudVision
from tests.servers import ThreadedServer

from .helpers import upload_and_trigger, wait_final, wait_for

TOKEN = "review-test-admin-token"
MODES = ["orchestration", "choreography"]


@pytest.fixture
def review_timeout() -> float:
    return 600.0


@pytest.fixture
def settings_override(settings: Settings, review_timeout: float) -> Iterator[Settings]:
    fake = FakeCloudVision()  # answers racy POSSIBLE
    with ThreadedServer(fake.app) as running:
        yield settings.model_copy(update={
            "vision_backend": "google", "google_vision_endpoint": running.url,
            "google_vision_anonymous": True, "admin_token": TOKEN,
            "admin_password": "review-test-password", "review_timeout": review_timeout})


@pytest.fixture
async def frontend(pipeline: Trigger) -> AsyncIterator[httpx.AsyncClient]:
    """The real frontend app; its client is async (the worker shares the test's event loop)."""
    from frontend.app import create_app

    with ThreadedServer(create_app(pipeline.settings)) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield client


async def waiting_picture(pipeline: Trigger, mode: str) -> str:
    picture_id = await upload_and_trigger(pipeline, PHOTOS / "good" / "coffee.png", mode=mode)
    doc = await wait_for(pipeline.settings, picture_id,
                         lambda d: d["status"] == Status.AWAITING_REVIEW)
    assert doc["review"]["reason"] == "borderline: racy POSSIBLE; a person decides"
    assert doc["labels"] and doc["safety"]["likelihoods"]["racy"] == "POSSIBLE"
    assert doc["thumbnail"] is None
    return picture_id


async def decide(frontend: httpx.AsyncClient, picture_id: str, decision: str,
                 reason: str | None = None) -> httpx.Response:
    return await frontend.post(f"/api/pictures/{picture_id}/review",
                         json={"decision": decision, "reason": reason})


def review_entries(doc: dict[str, Any]) -> list[str]:
    return [t["outcome"] for t in doc["timeline"] if t["step"] == Step.REVIEW]


@pytest.mark.parametrize("mode", MODES)
async def test_an_approved_picture_is_finished_once_even_if_approved_twice(
        pipeline: Trigger, frontend: httpx.AsyncClient, mode: str) -> None:
    picture_id = await waiting_picture(pipeline, mode)
    # not shown meanwhile: the original is for admins only, there is no thumbnail
    async with httpx.AsyncClient(base_url=frontend.base_url) as anonymous:
        assert (await anonymous.get(f"/api/pictures/{picture_id}/image")).status_code == 401
    assert (await frontend.get(f"/api/pictures/{picture_id}/image")).status_code == 200

    first = await decide(frontend, picture_id, "approve", "a cup of coffee")
    assert first.status_code == 202, first.text
    again = await decide(frontend, picture_id, "approve")  # the button pressed twice
    assert again.status_code in (202, 409), again.text

    doc = await wait_final(pipeline.settings, picture_id)
    assert doc["status"] == Status.DONE, doc
    assert doc["thumbnail"] and review_entries(doc) == ["ok"]
    assert doc["review"]["decision"] == "approve" and doc["review"]["note"] == "a cup of coffee"
    oks = [t["step"] for t in doc["timeline"] if t["outcome"] == "ok"]
    assert len(oks) == len(set(oks)), oks  # every step once
    late = await decide(frontend, picture_id, "reject")
    assert late.status_code == 409 and "not waiting for review: it is done" in late.text


@pytest.mark.parametrize("mode", MODES)
async def test_a_rejected_picture_ends_rejected_with_the_reason_and_nothing_made(
        pipeline: Trigger, frontend: httpx.AsyncClient, mode: str) -> None:
    picture_id = await waiting_picture(pipeline, mode)
    assert (await decide(frontend, picture_id, "reject", "not a coffee")).status_code == 202
    doc = await wait_final(pipeline.settings, picture_id)
    assert (doc["status"], doc["error"]) == (Status.REJECTED,
                                             "rejected by a reviewer: not a coffee")
    assert review_entries(doc) == ["rejected"] and doc["thumbnail"] is None
    listed = s3_client(pipeline.settings).list_objects_v2(
        Bucket=pipeline.settings.thumbnails_bucket)
    assert not listed.get("Contents")


async def test_a_decision_needs_an_admin_and_a_valid_body(frontend: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=frontend.base_url) as anonymous:
        refused = await anonymous.post("/api/pictures/nope/review", json={"decision": "approve"})
        assert refused.status_code == 401
    bad = await frontend.post("/api/pictures/nope/review", json={"decision": "maybe"})
    assert bad.status_code == 422 and "decision" in bad.json()["error"]
    missing = await frontend.post("/api/pictures/nope/review", json={"decision": "approve"})
    assert missing.status_code == 404


@pytest.mark.parametrize("review_timeout", [3.0])
@pytest.mark.parametrize("mode", MODES)
async def test_no_decision_in_time_rejects_the_picture(
        pipeline: Trigger, frontend: httpx.AsyncClient, mode: str) -> None:
    picture_id = await waiting_picture(pipeline, mode)
    doc = await wait_final(pipeline.settings, picture_id, limit_s=30)
    assert (doc["status"], doc["error"]) == (Status.REJECTED, "no decision in 3 s")
    assert doc["review"]["decided_by"] == "timeout" and review_entries(doc) == ["rejected"]
    late = await decide(frontend, picture_id, "approve")
    assert late.status_code == 409


async def test_a_waiting_pictures_run_terminated_from_outside_fails_it_at_the_next_round(
        pipeline: Trigger, temporal_client: Any) -> None:
    """The admin's approve would answer 409 "moot" for ever: the reconciler finds the run over
    and fails the picture, with the reason."""
    import json

    from functions.reconciler import Reconciler
    from picadaily.events import EventBus
    from picadaily.ids import workflow_id_for
    from picadaily.storage import S3ObjectStore

    settings = pipeline.settings.model_copy(update={"reconcile_after_s": 0.0})
    picture_id = await waiting_picture(pipeline, "orchestration")
    await temporal_client.get_workflow_handle(workflow_id_for(picture_id)).terminate(
        reason="an intruder with the temporal CLI")
    js = pipeline.bus._js  # (the pipeline's own JetStream context)
    async with httpx.AsyncClient(base_url=settings.metadata_url) as metadata:
        reconciler = Reconciler(settings, S3ObjectStore.from_settings(settings), metadata, js,
                                EventBus(js, settings, "picadaily/reconciler"), temporal_client)
        report = await reconciler.run_once(full=False)
    assert report.failed == [picture_id], json.dumps(report.__dict__)
    doc = await wait_final(settings, picture_id)
    assert doc["status"] == Status.FAILED and "terminated" in doc["error"]
