"""An unsafe picture ends ``rejected`` and is never shown: the workflow's safety branch, with the
Cloud Vision backend answering from a local stand-in of its REST API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.trigger import Trigger
from picadaily.settings import Settings
from picadaily.steps import Step
from picadaily.storage import s3_client
from tests.conftest import PHOTOS
from tests.integration.test_cloud_vision import FakeCloudVision
from tests.servers import ThreadedServer

from .helpers import upload_and_trigger, wait_final


@pytest.fixture
def cloud(settings: Settings) -> Iterator[Settings]:
    fake = FakeCloudVision()
    fake.safe_search["adult"] = "VERY_LIKELY"
    with ThreadedServer(fake.app) as running:
        yield settings.model_copy(update={
            "vision_backend": "google", "google_vision_endpoint": running.url,
            "google_vision_anonymous": True})


@pytest.fixture
def settings_override(cloud: Settings) -> Settings:
    return cloud


async def test_an_unsafe_picture_is_rejected_and_nothing_is_made_of_it(pipeline: Trigger) -> None:
    settings = pipeline.settings
    picture_id = await upload_and_trigger(pipeline, PHOTOS / "good" / "coffee.png")

    doc = await wait_final(settings, picture_id)
    assert doc["status"] == "rejected"
    assert doc["error"] == "unsafe: adult VERY_LIKELY"
    assert [t["step"] for t in doc["timeline"]] == [
        Step.ANALYSE_IMAGE, Step.EXTRACT_EXIF, Step.CHECK_SAFETY]
    assert doc["thumbnail"] is None and doc["labels"] is None
    listed = s3_client(settings).list_objects_v2(Bucket=settings.thumbnails_bucket)
    assert not listed.get("Contents")
