"""What each domain event says: one pydantic model per event type, the ``data`` of its CloudEvent.

Publishers build one of these; consumers receive one (``picadaily.events.parse_event`` validates
the payload against the model of the event's type). Every event also carries the picture id,
the mode and the picture version in the envelope (``picadaily.events.Event``), not here.

Decided once for every event:
- a field the model does not name is ignored (a newer publisher may say more);
- a field the model needs that is missing, or of the wrong type, makes the event malformed: the
  consumer sets it aside as a dead letter at once and goes on (``picadaily.consumer``);
- every field is on the wire, ``null`` when not known.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from picadaily.contracts import (
    Analysis,
    Exif,
    ReviewChoice,
    ReviewDecision,
    Thumbnail,
    TimelineEntry,
)
from picadaily.safety import SafetyVerdict

# ISO 8601 as Python writes it ("+00:00"), as these events always carried it (the collage ranks
# members by the stored text of their created time).
IsoTime = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str)]


class EventData(BaseModel):
    """The ``data`` of one type of event (``TYPE`` is its subject suffix)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    TYPE: ClassVar[str]


class StepReport(EventData):
    """An event a processing step publishes: its own timeline entries travel in it, and the
    metadata service records them when it reads the event (no request of their own)."""

    timeline: list[TimelineEntry] = Field(
        default_factory=list, description="the publishing step's timeline entries")


class PictureObject(BaseModel):
    """Where the picture's original is, and when it was created (the collage ranks by it)."""

    bucket: str
    key: str
    created: IsoTime | None = None


class PictureUploaded(EventData, PictureObject):
    """A new original (or a new version of one) is stored: process it."""

    TYPE = "picture.uploaded"


class PictureAnalyzed(StepReport, PictureObject):
    """``analyse_image`` and ``check_safety`` are done."""

    TYPE = "picture.analyzed"
    analysis: Analysis
    verdict: SafetyVerdict


class PictureExifExtracted(StepReport, Exif):
    """``extract_exif`` is done (what the file says of the camera, the time and the place)."""

    TYPE = "picture.exif_extracted"


class ThumbnailCreated(StepReport, PictureObject):
    """``make_thumbnail`` is done."""

    TYPE = "thumbnail.created"
    width: int
    height: int

    @property
    def thumbnail(self) -> Thumbnail:
        return Thumbnail(width=self.width, height=self.height)


class CollageUpdated(StepReport):
    """The collage was rebuilt (``cause``: a new thumbnail, or a member failed or deleted)."""

    TYPE = "collage.updated"
    pictures: list[str]
    rebuilt: bool
    cause: Literal["thumbnail", "failed", "deleted"]
    width: int | None = Field(default=None, description="the new thumbnail's (cause thumbnail)")
    height: int | None = None

    @property
    def thumbnail(self) -> Thumbnail | None:
        """The new thumbnail's size, when a new thumbnail caused the rebuild."""
        if self.width is None or self.height is None:
            return None
        return Thumbnail(width=self.width, height=self.height)


class PictureFailed(EventData):
    """The picture cannot be processed: it ends ``failed``, and every service cleans up."""

    TYPE = "picture.failed"
    step: str
    reason: str
    run_ended: bool = Field(default=False, description=(
        "the workflow run that held the picture ended without finishing it (terminated or "
        "cancelled through Temporal): a picture waiting for review fails too"))


class PictureDeleted(EventData):
    """The original was deleted: every service removes what it made of it (both modes)."""

    TYPE = "picture.deleted"
    bucket: str | None = None
    key: str | None = None
    deleted_at: IsoTime | None = None


class PictureReviewRequested(EventData):
    """A borderline picture waits for a person until ``timeout_at``."""

    TYPE = "picture.review_requested"
    reason: str
    timeout_at: IsoTime


class PictureReviewDecided(EventData, ReviewDecision):
    """A decision about a waiting picture: a person's, or the timeout's (a scheduled message)."""

    TYPE = "picture.review_decided"


class PictureReviewed(EventData, PictureObject):
    """The metadata service applied the first decision (once per version)."""

    TYPE = "picture.reviewed"
    decision: ReviewChoice
    reason: str | None = None
    by: Literal["admin", "timeout"] = "admin"


DATA_MODELS: dict[str, type[EventData]] = {model.TYPE: model for model in (
    PictureUploaded, PictureAnalyzed, PictureExifExtracted, ThumbnailCreated, CollageUpdated,
    PictureFailed, PictureDeleted, PictureReviewRequested, PictureReviewDecided,
    PictureReviewed)}
