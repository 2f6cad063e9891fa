"""The documents the parts exchange: analysis results, timeline entries, the picture document.

Plain pydantic models: the HTTP edges, the event edges and the workflow all speak these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from picadaily.settings import Mode

Likelihood = Literal[
    "UNKNOWN", "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY"
]
UNSAFE_LIKELIHOODS = frozenset({"LIKELY", "VERY_LIKELY"})
SAFETY_CATEGORIES = ("adult", "spoof", "medical", "violence", "racy")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Label(BaseModel):
    name: str
    score: float


class Colour(BaseModel):
    red: int
    green: int
    blue: int
    pixel_fraction: float
    score: float = 0.0


class Safety(BaseModel):
    """Cloud Vision SafeSearch style. ``judged`` names the categories a model actually judged."""

    judged: list[str] = Field(default_factory=list)
    likelihoods: dict[str, Likelihood] = Field(default_factory=dict)
    backend: str = "none"

    @property
    def computed(self) -> bool:
        return bool(self.judged)

    def is_unsafe(self) -> bool:
        """Cloud Vision's rule: any judged category LIKELY or VERY_LIKELY."""
        return any(self.likelihoods.get(c) in UNSAFE_LIKELIHOODS for c in self.judged)

    def unsafe_categories(self) -> list[str]:
        return [c for c in self.judged if self.likelihoods.get(c) in UNSAFE_LIKELIHOODS]

    def borderline_categories(self) -> list[str]:
        """Judged categories neither clearly safe nor unsafe: a person decides."""
        return [c for c in self.judged if self.likelihoods.get(c) == "POSSIBLE"]


class Analysis(BaseModel):
    """What ``analyse_image`` found. ``labels`` is None when no label backend computed them."""

    labels: list[Label] | None = None
    colours: list[Colour] = Field(default_factory=list)
    safety: Safety = Field(default_factory=Safety)
    backend: str = "local"
    not_computed: list[str] = Field(
        default_factory=list, description="parts of the analysis no backend computed, and why"
    )


class TimelineEntry(BaseModel):
    step: str
    started: datetime
    ended: datetime
    outcome: Literal["ok", "error", "rejected", "skipped"]
    attempt: int = 1
    error: str | None = None
    mode: Mode | None = None
    version: int | None = None  # the picture version the step worked on (None: unknown)


ReviewChoice = Literal["approve", "reject"]


class ReviewDecision(BaseModel):
    """A decision about a picture waiting for review: a person's, or the timeout's."""

    decision: ReviewChoice
    reason: str | None = Field(default=None, max_length=500)
    by: Literal["admin", "timeout"] = "admin"


class Review(BaseModel):
    """Why a picture waits for a person, and what was decided (once)."""

    reason: str
    requested: datetime
    decision: ReviewChoice | None = None
    decided: datetime | None = None
    decided_by: str | None = None
    note: str | None = None  # the decision's reason
    decision_id: str | None = None  # which decision message was applied (repeats are no-ops)


class Thumbnail(BaseModel):
    width: int
    height: int


class CollageCandidate(BaseModel):
    """A picture the collage may show: its id and when it was created (the collage ranks by it)."""

    id: str
    created: datetime


class CollageResult(BaseModel):
    """The collage's members after a ``update_collage`` step, newest first."""

    pictures: list[str]
    rebuilt: bool


class Exif(BaseModel):
    """What the file says about where and how it was taken (``extract_exif``). Coordinates are
    rounded to about 100 m; ``place`` is the nearest town in an offline gazetteer."""

    camera: str | None = None  # make and model, as one name: "Canon EOS 5D Mark IV"
    lens: str | None = None
    taken: str | None = None  # local time as the camera recorded it, ISO 8601, no zone
    year: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    place: str | None = None  # "Paris, Île-de-France, France"
    note: str | None = None  # what is missing, in words ("no EXIF in this file", "no GPS")


class Registration(BaseModel):
    """A picture as it enters the system (upload, or a storage event for a direct put)."""

    object_key: str
    original_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    mode: Mode | None = None
    created: datetime = Field(default_factory=utcnow)
    # The stored object's etag (storage events know it; the upload route may not yet).
    etag: str | None = None


class Picture(BaseModel):
    id: str
    object_key: str
    original_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    created: datetime
    updated: datetime
    finished: datetime | None = None
    mode: Mode | None = None
    status: str = "processing"
    error: str | None = None
    labels: list[Label] | None = None
    colours: list[Colour] | None = None
    safety: Safety | None = None
    thumbnail: Thumbnail | None = None
    review: Review | None = None  # set when the safety verdict asked for a person
    exif: Exif | None = None
    collage_updated: bool = False  # choreography: the collage step reported for this picture
    # Each write of a new original (an overwrite, a re-put after deletion) is a new version,
    # processed from scratch; writes about an older version are refused (``StaleVersion``).
    version: int = 1
    etag: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
