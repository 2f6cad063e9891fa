"""The Cloud Vision backend against a local server speaking Cloud Vision's REST JSON, with the
real google-cloud-vision client (anonymous credentials, REST transport, endpoint on loopback)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from picadaily.imaging import ImageRejected
from picadaily.safety import check_safety
from picadaily.settings import Settings
from services.vision.cloud import CloudVision
from services.vision.core import VisionUnavailable
from tests.servers import ThreadedServer

LABELS = [{"mid": "/m/01yrx", "description": "Cat", "score": 0.97, "topicality": 0.97},
          {"mid": "/m/0jbk", "description": "Animal", "score": 0.91, "topicality": 0.91}]
COLOURS = {"colors": [
    {"color": {"red": 30, "green": 40, "blue": 50}, "score": 0.6, "pixelFraction": 0.4},
    {"color": {"red": 200, "green": 180, "blue": 160}, "score": 0.3, "pixelFraction": 0.2}]}


class FakeCloudVision:
    """Answers ``POST /v1/images:annotate`` the way Cloud Vision does; ``answer`` says how."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = "ok"
        self.safe_search = {"adult": "VERY_UNLIKELY", "spoof": "UNLIKELY", "medical": "UNLIKELY",
                            "violence": "VERY_UNLIKELY", "racy": "POSSIBLE"}
        self.app = FastAPI()

        @self.app.post("/v1/images:annotate")
        async def annotate(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.answer == "quota":
                return JSONResponse({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                               "message": "Quota exceeded"}}, status_code=429)
            if self.answer == "5xx":
                return JSONResponse({"error": {"code": 503, "status": "UNAVAILABLE",
                                               "message": "try later"}}, status_code=503)
            if self.answer == "bad image":
                return JSONResponse({"responses": [{"error": {
                    "code": 3, "message": "Bad image data."}}]})
            return JSONResponse({"responses": [{
                "labelAnnotations": LABELS,
                "imagePropertiesAnnotation": {"dominantColors": COLOURS},
                "safeSearchAnnotation": self.safe_search}]})


@pytest.fixture
def fake() -> Iterator[tuple[FakeCloudVision, CloudVision]]:
    server = FakeCloudVision()
    with ThreadedServer(server.app) as running:
        settings = Settings(vision_backend="google", google_vision_endpoint=running.url,
                            google_vision_anonymous=True)
        yield server, CloudVision.from_settings(settings)


def photo() -> Image.Image:
    return Image.new("RGB", (1200, 900), (30, 40, 50))


def test_one_request_with_the_three_features_and_a_small_jpeg(
    fake: tuple[FakeCloudVision, CloudVision],
) -> None:
    server, backend = fake
    backend.analyse(photo())
    [body] = server.requests
    [request] = body["requests"]
    from google.cloud import vision

    # The REST transport may send enum numbers; the API takes numbers and names alike.
    kinds = {vision.Feature.Type(f["type"]).name if isinstance(f["type"], int) else f["type"]
             for f in request["features"]}
    assert kinds == {"LABEL_DETECTION", "IMAGE_PROPERTIES", "SAFE_SEARCH_DETECTION"}
    with Image.open(io.BytesIO(base64.b64decode(request["image"]["content"]))) as sent:
        assert sent.format == "JPEG" and max(sent.size) <= 640


def test_the_response_maps_to_the_same_analysis_as_the_local_backend(
    fake: tuple[FakeCloudVision, CloudVision],
) -> None:
    _, backend = fake
    analysis = backend.analyse(photo())
    assert [(x.name, x.score) for x in analysis.labels or []] == [("cat", 0.97), ("animal", 0.91)]
    first = analysis.colours[0]
    assert (first.red, first.green, first.blue, first.pixel_fraction) == (30, 40, 50, 0.4)
    assert analysis.safety.judged == ["adult", "spoof", "medical", "violence", "racy"]
    assert analysis.safety.likelihoods["racy"] == "POSSIBLE"
    assert not analysis.safety.is_unsafe()


@pytest.mark.parametrize("category", ["adult", "violence", "racy"])
def test_likely_in_any_category_is_unsafe(fake: tuple[FakeCloudVision, CloudVision],
                                          category: str) -> None:
    server, backend = fake
    server.safe_search[category] = "LIKELY"
    safety = backend.analyse(photo()).safety
    assert safety.is_unsafe() and safety.unsafe_categories() == [category]


def test_possible_in_any_category_waits_for_a_person(
        fake: tuple[FakeCloudVision, CloudVision]) -> None:
    """The fake answers racy POSSIBLE: the verdict is borderline, deterministically."""
    _, backend = fake
    verdict = check_safety(backend.analyse(photo()).safety)
    assert (verdict.safe, verdict.review) == (False, True)
    assert verdict.reason == "borderline: racy POSSIBLE; a person decides"


def test_unsafe_wins_over_borderline(fake: tuple[FakeCloudVision, CloudVision]) -> None:
    server, backend = fake
    server.safe_search["adult"] = "VERY_LIKELY"
    verdict = check_safety(backend.analyse(photo()).safety)
    assert (verdict.safe, verdict.review) == (False, False)
    assert verdict.reason == "unsafe: adult VERY_LIKELY"


@pytest.mark.parametrize("answer", ["quota", "5xx"])
def test_quota_and_server_errors_are_retryable(fake: tuple[FakeCloudVision, CloudVision],
                                               answer: str) -> None:
    server, backend = fake
    server.answer = answer
    with pytest.raises(VisionUnavailable):
        backend.analyse(photo())
    assert len(server.requests) == 1, "the client must not retry on its own"


def test_a_bad_image_is_not_retryable(fake: tuple[FakeCloudVision, CloudVision]) -> None:
    server, backend = fake
    server.answer = "bad image"
    with pytest.raises(ImageRejected, match="Bad image data"):
        backend.analyse(photo())
