"""``POST /api/pictures/{id}/review``: an admin decides a picture waiting for review.

The decision goes where the picture's waiting state lives:

- orchestration: a Temporal Update (``review``) on the picture's workflow. Its validator refuses
  a decision when none is awaited or one was made: the answer is immediate and final (202 or
  409); the same decision sent twice is one update (same update id).
- choreography: a ``picture.review_decided`` event. The metadata service applies the first
  decision it reads and ignores any other, so the answer can only be "accepted" (202): a second,
  different decision racing the first is dropped there, not here.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from picadaily.choreography import may_publish
from picadaily.contracts import Picture, ReviewChoice, ReviewDecision
from picadaily.event_data import PictureReviewDecided
from picadaily.events import Event, EventBus
from picadaily.ids import workflow_id_for
from picadaily.moderation import REVIEW_UPDATE
from picadaily.steps import Status

from ..auth import AdminOnly
from ..deps import Frontend, FrontendDep
from ..errors import error_responses, http_error
from .pictures import PictureId, fetch_picture

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/pictures", tags=["review"],
                   responses=error_responses(400, 401, 403, 404, 409, 413, 422, 502, 503))


class ReviewBody(BaseModel):
    decision: ReviewChoice
    reason: str | None = Field(default=None, max_length=500)


class ReviewAnswer(BaseModel):
    id: str
    decision: ReviewChoice
    mode: str | None
    version: int
    applied: str


@router.post("/{picture_id}/review", dependencies=[AdminOnly], status_code=202)
async def review(picture_id: PictureId, body: ReviewBody, fe: FrontendDep) -> ReviewAnswer:
    picture = await fetch_picture(fe, picture_id)
    if picture.status != Status.AWAITING_REVIEW:
        raise http_error(409, f"this picture is not waiting for review: it is {picture.status}"
                              + (f" ({picture.error})" if picture.error else ""))
    decision = ReviewDecision(decision=body.decision, reason=body.reason or None, by="admin")
    if picture.mode == "orchestration":
        await _update_workflow(fe, picture, decision)
        applied = "now: the workflow accepted it"
    else:
        bus = EventBus(fe.nats.jetstream(), fe.settings, "picadaily/frontend",
                       may_publish("frontend"))
        await bus.publish(
            Event(PictureReviewDecided(**decision.model_dump()), picture.id, picture.mode,
                  version=picture.version),
            dedupe_key=f"{picture.id}:review:{picture.version}:{body.decision}")
        applied = "when the metadata service reads it: the first decision wins"
    log.info("%s version %d: %s by an admin (%s)", picture.id, picture.version, body.decision,
             picture.mode)
    return ReviewAnswer(id=picture.id, decision=body.decision, mode=picture.mode,
                        version=picture.version, applied=applied)


async def _update_workflow(fe: Frontend, picture: Picture, decision: ReviewDecision) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    handle = (await fe.temporal()).get_workflow_handle(
        workflow_id_for(picture.id, picture.version))
    try:
        # The same decision twice is one update: Temporal answers a repeat with the first result.
        await handle.execute_update(REVIEW_UPDATE, decision,
                                    id=f"review-v{picture.version}-{decision.decision}")
    except WorkflowUpdateFailedError as exc:
        raise http_error(409, f"the workflow refused the decision: {_cause(exc)}") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # "update aborted by closing workflow"
            raise http_error(409, "the workflow has finished meanwhile: the decision is moot "
                             f"({exc.message})") from exc
        raise http_error(503, f"Temporal did not take the decision: {exc.message}") from exc


def _cause(exc: Any) -> str:
    cause = exc.cause
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause
    return str(getattr(cause, "message", None) or cause or exc)
