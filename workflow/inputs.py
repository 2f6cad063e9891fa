"""The models that cross the workflow boundary: one argument per activity. They travel through
the SDK's pydantic data converter (``converter``), typed on both sides."""

from __future__ import annotations

from pydantic import BaseModel

from picadaily.contracts import Analysis, Safety
from picadaily.settings import Mode
from picadaily.steps import Status


class PictureInput(BaseModel):
    picture_id: str
    bucket: str
    key: str
    mode: Mode = "orchestration"
    version: int = 1  # the picture version this run processes (metadata refuses older ones)
    # How long each step retries retryable errors (Settings.step_retry_budget_s at start).
    retry_budget_s: float = 300.0


class SafetyInput(BaseModel):
    picture: PictureInput
    safety: Safety


class AnalysisInput(BaseModel):
    picture: PictureInput
    analysis: Analysis


class FinishInput(BaseModel):
    picture: PictureInput
    status: Status
    error: str | None = None


class CleanUpInput(BaseModel):
    picture: PictureInput
    had_thumbnail: bool


class PictureOutcome(BaseModel):
    picture_id: str
    status: Status
    error: str | None = None
