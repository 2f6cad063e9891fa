"""The names of the processing steps: the same words in the workflow, services, events and UI.

``PIPELINE`` is the one order of the steps: the workflow runs them in it, the timeline and the
pages list them in it.
"""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    ANALYSE_IMAGE = "analyse_image"
    EXTRACT_EXIF = "extract_exif"
    CHECK_SAFETY = "check_safety"
    STORE_METADATA = "store_metadata"
    MAKE_THUMBNAIL = "make_thumbnail"
    UPDATE_COLLAGE = "update_collage"
    # Not processing steps: the trigger registering a picture, and undoing a failed picture's
    # artefacts.
    REGISTER = "register"
    CLEAN_UP = "clean_up"
    # A person deciding a borderline picture (moderation): recorded from the request to the
    # decision, in both modes.
    REVIEW = "review"


PIPELINE: tuple[Step, ...] = (
    Step.ANALYSE_IMAGE,
    Step.EXTRACT_EXIF,
    Step.CHECK_SAFETY,
    Step.STORE_METADATA,
    Step.MAKE_THUMBNAIL,
    Step.UPDATE_COLLAGE,
)
# What a timeline may show, in the order the pages list it, with the words people read.
STEP_TITLES: dict[Step, str] = {
    Step.REGISTER: "register",
    Step.ANALYSE_IMAGE: "analyse image",
    Step.EXTRACT_EXIF: "EXIF and place",
    Step.CHECK_SAFETY: "check safety",
    Step.REVIEW: "review",
    Step.STORE_METADATA: "store metadata",
    Step.MAKE_THUMBNAIL: "thumbnail",
    Step.UPDATE_COLLAGE: "collage",
    Step.CLEAN_UP: "clean up",
}


class Status(StrEnum):
    PROCESSING = "processing"
    AWAITING_REVIEW = "awaiting_review"  # a borderline verdict: a person decides
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"


FINAL_STATUSES = frozenset({Status.DONE, Status.REJECTED, Status.FAILED})
# The pictures the collage may show (with a thumbnail): done, or still processing (choreography:
# the collage may be rebuilt before the metadata heard that the picture is done). In this order:
# the SQL of the collage's partial index is written from it and must never change.
COLLAGE_STATUSES: tuple[Status, ...] = (Status.DONE, Status.PROCESSING)
