"""The models that cross the workflow boundary: one argument per activity. They travel through
the SDK's pydantic data converter (``converter``), typed on both sides."""

from __future__ import annotations

from pydantic import BaseModel

from picadaily.contracts import Analysis, ReviewDecision, Safety
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
    # How long a borderline picture waits for a person (Settings.review_timeout at start).
    review_timeout_s: float = 24 * 3600.0
    # Settings.local_first_steps at start: the sunny path runs each step as a local activity.
    local_first: bool = False
    # Attempts a step already made before this activity (its local attempts): the timeline
    # numbers a step's attempts on from them.
    attempts_before: int = 0


class SafetyInput(BaseModel):
    picture: PictureInput
    safety: Safety


class AnalysisInput(BaseModel):
    picture: PictureInput
    analysis: Analysis
    review_reason: str | None = None  # borderline: store it and wait for a person


class ReviewInput(BaseModel):
    picture: PictureInput
    decision: ReviewDecision
    decision_id: str


class ReviewResult(BaseModel):
    outcome: str  # applied, repeat, refused
    status: Status | None = None  # the picture's status afterwards (None: it is gone)
    error: str | None = None  # the picture's error afterwards (a rejection's reason)
    reason: str = ""  # why the decision was refused


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
