"""The vision core: decode once with the shared decoder, then ask the configured backend.

Backends: ``LocalVision`` (offline models: EfficientNet-Lite0 labels, open_nsfw safety, colours
computed here) and ``CloudVision`` (Google Cloud Vision, one annotate request). Both return the
same ``Analysis``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from picadaily.contracts import Analysis, Label, Safety
from picadaily.imaging import DecodeBudget, decode
from picadaily.storage import ObjectStore

from .colours import dominant_colours

log = logging.getLogger(__name__)

# Classifiers look at 224 px; colours at 96 px. Decoding to >= 256 px is plenty.
ANALYSIS_SIDE = 256


class VisionUnavailable(Exception):
    """The backend could not answer now (quota, 5xx, network): worth retrying."""


class AnalysisBackend(Protocol):
    name: str
    decode_side: int

    def analyse(self, image: Image.Image) -> Analysis: ...


class LabelModel(Protocol):
    name: str

    def labels(self, image: Image.Image) -> list[Label]: ...


class SafetyModel(Protocol):
    name: str

    def safety(self, image: Image.Image) -> Safety: ...


@dataclass
class LocalVision:
    """Offline analysis. A model that is not given is reported as not computed, never faked."""

    labeller: LabelModel | None = None
    safety_judge: SafetyModel | None = None
    name: str = "local"
    decode_side: int = ANALYSIS_SIDE

    def analyse(self, image: Image.Image) -> Analysis:
        not_computed: list[str] = []
        labels: list[Label] | None = None
        if self.labeller is not None:
            labels = self.labeller.labels(image)
        else:
            not_computed.append("labels: no label model is configured")
        if self.safety_judge is not None:
            safety = self.safety_judge.safety(image)
        else:
            safety = Safety()
            not_computed.append("safety: no safety model is configured")
        used = [m.name for m in (self.labeller, self.safety_judge) if m is not None]
        return Analysis(labels=labels, colours=dominant_colours(image), safety=safety,
                        backend="+".join(["local", *used]), not_computed=not_computed)


@dataclass
class Vision:
    """``at_once``: analyses that run at the same time (the download is not counted). The models
    run on one thread each; eight at once on two cores cost 47-48 ms of CPU a picture where one
    or two cost 45-46 (measured alone; next to the rest of the stack the gap was wider)."""

    store: ObjectStore
    max_pixels: int
    backend: AnalysisBackend
    at_once: int = 2
    budget: DecodeBudget | None = None
    _turns: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._turns = threading.BoundedSemaphore(self.at_once)

    def analyse_image(self, picture_id: str, bucket: str, key: str) -> Analysis:
        return self.analyse_bytes(self.store.get(bucket, key).data)

    def analyse_bytes(self, data: bytes) -> Analysis:
        with self._turns:
            image = decode(data, max_pixels=self.max_pixels, fit=self.backend.decode_side,
                           budget=self.budget)
            return self.backend.analyse(image)
