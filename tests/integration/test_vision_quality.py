"""The offline vision backend on the shared photos: label quality, colours, safety, bad files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from picadaily.contracts import SAFETY_CATEGORIES, Analysis, Likelihood, Safety
from picadaily.drills import sample_jpeg
from picadaily.imaging import ImageRejected
from picadaily.safety import check_safety
from picadaily.storage import InMemoryObjectStore
from services.vision.core import LocalVision, Vision
from services.vision.labels import OnnxLabeller
from services.vision.safety import DEFAULT_REVIEW_BAND, OpenNsfwJudge, likelihood
from tests.conftest import PHOTOS, photos


@pytest.fixture(scope="module")
def vision() -> Vision:
    backend = LocalVision(labeller=OnnxLabeller(), safety_judge=OpenNsfwJudge())
    return Vision(InMemoryObjectStore(), max_pixels=60_000_000, backend=backend)


def analyse(vision: Vision, name: str) -> Analysis:
    return vision.analyse_bytes((PHOTOS / "good" / name).read_bytes())


def names(analysis: Analysis) -> set[str]:
    return {label.name.lower() for label in analysis.labels or []}


@pytest.mark.parametrize("photo", ["coffee.png", "coffee_cmyk.jpg", "coffee_progressive.jpg"])
def test_coffee_is_coffee_and_a_drink(vision: Vision, photo: str) -> None:
    found = names(analyse(vision, photo))
    assert found & {"coffee", "espresso", "cup", "coffee mug"}
    assert "drink" in found


@pytest.mark.parametrize("photo", ["chelsea.png", "chelsea_exif_rotated.jpg"])
def test_the_cat_is_a_cat(vision: Vision, photo: str) -> None:
    found = names(analyse(vision, photo))
    assert "cat" in found and "animal" in found
    assert found & {"tabby", "tiger cat", "egyptian cat"}


def test_the_rocket_is_a_rocket(vision: Vision) -> None:
    assert names(analyse(vision, "rocket.jpg")) & {"rocket", "missile", "projectile",
                                                    "space shuttle", "space"}


@pytest.mark.parametrize("photo", ["astronaut.png", "astronaut.webp"])
def test_the_astronaut_has_a_person_like_label_or_nothing_wrong(vision: Vision, photo: str) -> None:
    found = names(analyse(vision, photo))
    wrong = {"animal", "dog", "cat", "food", "drink", "vehicle", "car", "rocket"}
    assert not found & wrong, found


def test_labels_are_scored_and_ordered(vision: Vision) -> None:
    labels = analyse(vision, "coffee.png").labels or []
    scores = [label.score for label in labels]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)


def test_colours_are_plausible(vision: Vision) -> None:
    darkest = analyse(vision, "hubble_deep_field.jpg").colours[0]
    assert darkest.red + darkest.green + darkest.blue < 120, "the hubble photo is dark"
    coffee = analyse(vision, "coffee.png").colours
    assert 1 <= len(coffee) <= 5 and sum(c.pixel_fraction for c in coffee) <= 1.0001
    assert coffee == sorted(coffee, key=lambda c: -c.pixel_fraction)
    brick = analyse(vision, "brick.png").colours  # greyscale: every colour is a grey
    assert all(abs(c.red - c.green) < 8 and abs(c.green - c.blue) < 8 for c in brick)


def test_every_good_photo_is_judged_safe_with_the_judged_category_named(vision: Vision) -> None:
    for path in photos("good"):
        safety = vision.analyse_bytes(path.read_bytes()).safety
        assert safety.judged == ["adult"], path.name
        assert not safety.is_unsafe(), path.name
        assert safety.likelihoods["violence"] == "UNKNOWN"


def test_likelihood_bands_follow_the_score() -> None:
    assert [likelihood(s) for s in (0.0, 0.2, 0.5, 0.7, 0.95)] == [
        "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY"]


@pytest.mark.parametrize(("band", "expected"), [
    ((0.0, 0.85), ["POSSIBLE", "POSSIBLE", "POSSIBLE", "POSSIBLE", "VERY_LIKELY"]),
    ((0.4, 0.45), ["VERY_UNLIKELY", "UNLIKELY", "LIKELY", "LIKELY", "VERY_LIKELY"]),
    ((0.1, 0.9), ["VERY_UNLIKELY", "POSSIBLE", "POSSIBLE", "POSSIBLE", "VERY_LIKELY"]),
])
def test_the_review_band_is_what_the_local_model_calls_possible(
        band: tuple[float, float], expected: list[str]) -> None:
    assert [likelihood(s, band) for s in (0.0, 0.2, 0.5, 0.7, 0.95)] == expected


def test_a_score_in_the_review_band_makes_the_verdict_wait_for_a_person() -> None:
    likelihoods: dict[str, Likelihood] = {c: "UNKNOWN" for c in SAFETY_CATEGORIES}
    likelihoods["adult"] = likelihood(0.5)
    verdict = check_safety(Safety(judged=["adult"], likelihoods=likelihoods))
    assert (verdict.safe, verdict.review) == (False, True)
    assert "adult POSSIBLE" in verdict.reason
    likelihoods["adult"] = likelihood(0.3)
    assert check_safety(Safety(judged=["adult"], likelihoods=likelihoods)).safe
    likelihoods["adult"] = likelihood(0.7)
    unsafe = check_safety(Safety(judged=["adult"], likelihoods=likelihoods))
    assert (unsafe.safe, unsafe.review) == (False, False)


@pytest.mark.parametrize("path", photos("bad"), ids=lambda p: Path(p).name)
def test_every_bad_file_fails_with_the_non_retryable_error(vision: Vision, path: Path) -> None:
    with pytest.raises(ImageRejected) as info:
        vision.analyse_bytes(path.read_bytes())
    assert info.value.reason


def test_no_drill_picture_waits_for_a_person() -> None:
    """The lab's and the chaos run's pictures (``sample_jpeg``, 256 colours, then they repeat)
    all score below the review band: a drill never stops at moderation."""
    judge = OpenNsfwJudge()
    scores = [judge.nsfw_score(Image.open(io.BytesIO(sample_jpeg(n))).convert("RGB"))
              for n in range(256)]
    assert max(scores) < DEFAULT_REVIEW_BAND[0]
