"""Workflow ``ProcessPicture``: analyse image -> check safety -> store metadata -> thumbnail ->
collage, each with its own retry policy and timeout (``step_policy``). Unsafe pictures end
``rejected``; a step that still fails after its retries ends the picture ``failed`` with the
reason, after cleaning up what earlier steps made.

A borderline picture waits for a person: its analysis is stored (``awaiting_review``), then the
workflow waits on the Update ``review`` (approve/reject; its validator refuses a decision when
none is awaited or one was made) with a durable timer of ``review_timeout_s``: no decision in
time rejects it. The waiting state is the workflow's own: a worker restart replays it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from picadaily.contracts import ReviewDecision
from picadaily.moderation import REVIEW_UPDATE, timeout_decision
from picadaily.steps import Status, Step

from .activities import PictureActivities
from .inputs import (
    AnalysisInput,
    CleanUpInput,
    FinishInput,
    PictureInput,
    PictureOutcome,
    ReviewInput,
    ReviewResult,
    SafetyInput,
)
from .step_policy import (
    BOOKKEEPING_RETRY,
    BOOKKEEPING_TIMEOUT,
    STEP_FAILURES,
    failure_reason,
    run_step,
)

# Versioned changes of this workflow (workflow.patched), oldest first.
EXIF_PATCH = "extract-exif"
LOCAL_FIRST_PATCH = "local-first-steps"


# Not sandboxed: the sandbox re-runs this module for every workflow run (measured: ~8 ms of worker
# CPU per picture). The code below is deterministic by construction: no I/O, clocks, randomness
# or threads; it only sequences activities and reads their results.
@workflow.defn(name="ProcessPicture", sandboxed=False)
class ProcessPicture:
    def __init__(self) -> None:
        self._local_first = False
        self._awaiting_review = False
        self._decision: ReviewDecision | None = None

    @workflow.update(name=REVIEW_UPDATE)
    async def review(self, decision: ReviewDecision) -> str:
        """A person's decision about this borderline picture (accepted once)."""
        self._decision = decision
        return decision.decision

    @review.validator
    def _one_decision_while_waiting(self, decision: ReviewDecision) -> None:
        if self._decision is not None:
            raise ValueError(f"already decided: {self._decision.decision} "
                             f"by {self._decision.by}")
        if not self._awaiting_review:
            raise ValueError("this picture is not waiting for review")

    @workflow.run
    async def run(self, picture: PictureInput) -> PictureOutcome:
        step = Step.ANALYSE_IMAGE
        made_thumbnail = False
        # (local first: see step_policy; a run an older worker started has no marker and replays
        # on ordinary activities)
        self._local_first = picture.local_first and workflow.patched(LOCAL_FIRST_PATCH)
        try:
            analysis = await self._step(step, PictureActivities.analyse_image, picture, picture)
            # Added after pictures were already in flight: a run that started before this step
            # existed replays without its marker and finishes on the old path.
            if workflow.patched(EXIF_PATCH):
                step = Step.EXTRACT_EXIF
                await self._step(step, PictureActivities.extract_exif, picture, picture)
            step = Step.CHECK_SAFETY
            verdict = await self._step(step, PictureActivities.check_safety, picture,
                                       SafetyInput(picture=picture, safety=analysis.safety))
            step = Step.STORE_METADATA
            if verdict.review:
                # Waiting from now: the status says awaiting_review as soon as this step stored
                # it, and a decision sent at once must find the workflow ready to take it.
                self._awaiting_review = True
                await self._step(step, PictureActivities.store_metadata, picture, AnalysisInput(
                    picture=picture, analysis=analysis, review_reason=verdict.reason))
                step = Step.REVIEW
                reviewed = await self._review(picture)
                if reviewed.status != Status.PROCESSING:  # rejected (or deleted meanwhile)
                    return PictureOutcome(picture_id=picture.picture_id,
                                          status=Status.REJECTED, error=reviewed.error)
            elif not verdict.safe:
                return await self._finish(picture, Status.REJECTED, verdict.reason)
            else:
                await self._step(step, PictureActivities.store_metadata, picture,
                                 AnalysisInput(picture=picture, analysis=analysis))
            step = Step.MAKE_THUMBNAIL
            await self._step(step, PictureActivities.make_thumbnail, picture, picture)
            made_thumbnail = True
            step = Step.UPDATE_COLLAGE
            await self._step(step, PictureActivities.update_collage, picture, picture)
        except STEP_FAILURES as error:
            reason = failure_reason(step, error, picture.retry_budget_s)
            await workflow.execute_activity_method(
                PictureActivities.clean_up,
                CleanUpInput(picture=picture, had_thumbnail=made_thumbnail),
                start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=BOOKKEEPING_RETRY,
            )
            return await self._finish(picture, Status.FAILED, reason)
        return await self._finish(picture, Status.DONE, None)

    async def _review(self, picture: PictureInput) -> ReviewResult:
        """Wait for the decision (or the timeout's) and have the metadata apply it."""
        timeout = timedelta(seconds=picture.review_timeout_s)
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timeout)
        except TimeoutError:
            self._decision = timeout_decision(picture.review_timeout_s)
        self._awaiting_review = False
        assert self._decision is not None
        result: ReviewResult = await workflow.execute_activity_method(
            PictureActivities.review,
            ReviewInput(picture=picture, decision=self._decision,
                        decision_id=f"{workflow.info().workflow_id}:{self._decision.by}"),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=BOOKKEEPING_RETRY)
        return result

    async def _step(self, step: Step, activity: Any, picture: PictureInput, arg: Any) -> Any:
        """One step under its timeout and retries (``step_policy``)."""
        return await run_step(step, activity, picture, arg, local_first=self._local_first)

    async def _finish(self, picture: PictureInput, status: Status,
                      error: str | None) -> PictureOutcome:
        await workflow.execute_local_activity_method(
            PictureActivities.finish_picture,
            FinishInput(picture=picture, status=status, error=error),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=BOOKKEEPING_RETRY,
        )
        return PictureOutcome(picture_id=picture.picture_id, status=status, error=error)

