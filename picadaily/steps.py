"""The names of the processing steps: the same words in the workflow, services, events and UI."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    ANALYSE_IMAGE = "analyse_image"
    CHECK_SAFETY = "check_safety"
    STORE_METADATA = "store_metadata"
    MAKE_THUMBNAIL = "make_thumbnail"
    UPDATE_COLLAGE = "update_collage"
    # Not a processing step: undoing a failed picture's artefacts.
    CLEAN_UP = "clean_up"


PIPELINE: tuple[Step, ...] = (
    Step.ANALYSE_IMAGE,
    Step.CHECK_SAFETY,
    Step.STORE_METADATA,
    Step.MAKE_THUMBNAIL,
    Step.UPDATE_COLLAGE,
)


class Status(StrEnum):
    PROCESSING = "processing"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"


FINAL_STATUSES = frozenset({Status.DONE, Status.REJECTED, Status.FAILED})
