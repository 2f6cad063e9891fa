"""The vision core: decode once, then colours, labels and safety from whichever backends exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from picadaily.contracts import Analysis, Label, Safety
from picadaily.faults import Faults
from picadaily.imaging import decode
from picadaily.steps import Step
from picadaily.storage import ObjectStore

from .colours import dominant_colours

log = logging.getLogger(__name__)

# Classifiers look at ~224 px; colours at 96 px. Decoding to >= 256 px is plenty.
ANALYSIS_SIDE = 256


class LabelBackend(Protocol):
    name: str

    def labels(self, image: Image.Image) -> list[Label]: ...


class SafetyBackend(Protocol):
    name: str

    def safety(self, image: Image.Image) -> Safety: ...


@dataclass
class Vision:
    store: ObjectStore
    max_pixels: int
    labeller: LabelBackend | None = None
    safety_judge: SafetyBackend | None = None
    faults: Faults = field(default_factory=Faults)

    def analyse_image(self, picture_id: str, bucket: str, key: str) -> Analysis:
        self.faults.check(Step.ANALYSE_IMAGE, picture_id)
        data = self.store.get(bucket, key).data
        return self.analyse_bytes(data)

    def analyse_bytes(self, data: bytes) -> Analysis:
        image = decode(data, max_pixels=self.max_pixels, fit=ANALYSIS_SIDE)
        not_computed: list[str] = []
        labels: list[Label] | None = None
        if self.labeller is not None:
            labels = self.labeller.labels(image)
        else:
            not_computed.append("labels: no label backend is configured")
        if self.safety_judge is not None:
            safety = self.safety_judge.safety(image)
        else:
            safety = Safety()
            not_computed.append("safety: no safety backend is configured")
        return Analysis(
            labels=labels,
            colours=dominant_colours(image),
            safety=safety,
            backend="+".join(
                b.name for b in (self.labeller, self.safety_judge) if b is not None
            ) or "colours-only",
            not_computed=not_computed,
        )
