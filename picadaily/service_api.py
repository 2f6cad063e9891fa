"""The bodies our services' HTTP APIs take and answer, once: each service's edge declares its
routes with these, and every caller (the workflow's activities, the trigger, the reconciler)
sends and reads the same models."""

from __future__ import annotations

from pydantic import BaseModel

from picadaily.contracts import Analysis, Picture, ReviewDecision, TimelineEntry
from picadaily.steps import Status


class ImageRequest(BaseModel):
    """Work on a stored original: ``POST /analyse`` (vision), ``/exif``, ``/thumbnails``."""

    picture_id: str
    bucket: str
    key: str


class CollageRequest(BaseModel):
    """``POST /collage``: rebuild it (``picture_id``: the one that asked, none for a clean-up)."""

    picture_id: str | None = None


class FinalStatus(BaseModel):
    """``PUT /pictures/{id}/status`` (metadata)."""

    status: Status
    error: str | None = None
    # Timeline entries that travel with the status (orchestration's local steps): recorded first.
    timeline: list[TimelineEntry] = []


class Ids(BaseModel):
    """``POST /pictures/states`` (metadata): which of these does it know, and how."""

    ids: list[str]


class Failure(BaseModel):
    """``POST /pictures/{id}/failure`` (metadata)."""

    error: str


class ReviewRequest(BaseModel):
    """``PUT /pictures/{id}/review-request`` (metadata): stored, waiting for a person."""

    analysis: Analysis
    reason: str


class Decision(BaseModel):
    """``PUT /pictures/{id}/review`` (metadata): a decision, once per ``decision_id``."""

    decision: ReviewDecision
    decision_id: str


class DecisionOut(BaseModel):
    """What ``PUT /pictures/{id}/review`` answers."""

    outcome: str
    reason: str
    picture: Picture
