"""Moderation's shared words: the decision a review timeout makes, the same in both modes."""

from __future__ import annotations

from datetime import datetime, timedelta

from picadaily.contracts import ReviewDecision

# The workflow's Update a person's decision arrives by (orchestration).
REVIEW_UPDATE = "review"


def review_key(picture_id: str) -> str:
    """Choreography's scheduled review timeout for a picture: one per picture (scheduling again,
    for a new version, replaces it)."""
    return f"review.{picture_id}"


def duration(seconds: float) -> str:
    """24 h, 90 min, 20 s: how long a review may wait, in the words a rejection gives."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:g} s"


def timeout_due(requested: datetime, review_timeout_s: float) -> datetime:
    """When nobody's decision came in time (choreography schedules the timeout's decision for
    then; orchestration's workflow waits as long on its own timer)."""
    return requested + timedelta(seconds=review_timeout_s)


def timeout_decision(review_timeout_s: float) -> ReviewDecision:
    """What happens to a picture nobody decided about in time: rejected, and the reason says so."""
    return ReviewDecision(decision="reject", by="timeout",
                          reason=f"no decision in {duration(review_timeout_s)}")
