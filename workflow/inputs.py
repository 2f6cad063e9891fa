"""The dataclasses that cross the workflow boundary: one argument per activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class PictureInput:
    picture_id: str
    bucket: str
    key: str
    mode: str = "orchestration"


@dataclass
class SafetyInput:
    picture: PictureInput
    safety: dict[str, Any]


@dataclass
class AnalysisInput:
    picture: PictureInput
    analysis: dict[str, Any]


@dataclass
class FinishInput:
    picture: PictureInput
    status: str
    error: str | None = None


@dataclass
class CleanUpInput:
    picture: PictureInput
    had_thumbnail: bool


@dataclass
class PictureOutcome:
    picture_id: str
    status: str
    error: str | None = None
