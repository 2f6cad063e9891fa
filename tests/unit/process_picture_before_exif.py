"""A frozen copy of ``workflow/process_picture.py`` as it was before the ``extract_exif`` step
(commit "EXIF in choreography"): the code workers ran when pictures now in flight started.
The upgrade test starts workflows on it, then hands them to a worker running today's code.

Workflow ``ProcessPicture``: analyse image -> check safety -> store metadata -> thumbnail ->
collage, each with its own retry policy and timeout. Unsafe pictures end ``rejected``; a step
that still fails after its retries ends the picture ``failed`` with the reason, after cleaning up
what earlier steps made.

A borderline picture waits for a person: its analysis is stored (``awaiting_review``), then the
workflow waits on the Update ``review`` (approve/reject; its validator refuses a decision when
none is awaited or one was made) with a durable timer of ``review_timeout_s``: no decision in
time rejects it. The waiting state is the workflow's own: a worker restart replays it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from picadaily.contracts import ReviewDecision
from picadaily.moderation import REVIEW_UPDATE, timeout_decision
from picadaily.steps import Status, Step
from workflow.activities import NOT_RETRYABLE_TYPES, PictureActivities
from workflow.inputs import (
    AnalysisInput,
    CleanUpInput,
    FinishInput,
    PictureInput,
    PictureOutcome,
    ReviewInput,
    ReviewResult,
    SafetyInput,
)

# Retryable errors are retried with a capped back-off until the picture's retry budget
# (PictureInput.retry_budget_s, from the settings) runs out: longer than a restart of any part.
RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,  # no count: the budget is time
    non_retryable_error_types=list(NOT_RETRYABLE_TYPES),
)
# Per step: how long one attempt may take.
STEP_TIMEOUT: dict[Step, timedelta] = {
    Step.ANALYSE_IMAGE: timedelta(seconds=30),
    Step.CHECK_SAFETY: timedelta(seconds=10),
    Step.STORE_METADATA: timedelta(seconds=10),
    Step.MAKE_THUMBNAIL: timedelta(seconds=30),
    Step.UPDATE_COLLAGE: timedelta(seconds=30),
}
# Tiny steps run as local activities, in the worker that runs the workflow: no task-queue round
# trip through the server, one marker in the history instead of three events.
LOCAL_STEPS = frozenset({Step.CHECK_SAFETY})
BOOKKEEPING = (timedelta(seconds=10), RetryPolicy(maximum_interval=timedelta(seconds=10)))


def failure_reason(step: Step, error: ActivityError, budget_s: float) -> str:
    message = _last_message(error)
    if error.retry_state in (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED):
        return f"{step} failed after {budget_s:.0f} s of retries: {message}"
    return f"{step} failed: {message}"


def _last_message(error: BaseException) -> str:
    """The last attempt's own words (an application error somewhere down the cause chain)."""
    cause: BaseException | None = error.cause if isinstance(error, ActivityError) else error
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.message
        cause = getattr(cause, "cause", None)
    return str(error.cause or error) if isinstance(error, ActivityError) else str(error)


# Not sandboxed: the sandbox re-runs this module for every workflow run (measured: ~8 ms of worker
# CPU per picture). The code below is deterministic by construction: no I/O, clocks, randomness
# or threads; it only sequences activities and reads their results.
@workflow.defn(name="ProcessPicture", sandboxed=False)
class ProcessPicture:
    def __init__(self) -> None:
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
        try:
            analysis = await self._step(step, PictureActivities.analyse_image, picture, picture)
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
        except ActivityError as error:
            reason = failure_reason(step, error, picture.retry_budget_s)
            await workflow.execute_activity_method(
                PictureActivities.clean_up,
                CleanUpInput(picture=picture, had_thumbnail=made_thumbnail),
                start_to_close_timeout=BOOKKEEPING[0], retry_policy=BOOKKEEPING[1],
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
            start_to_close_timeout=BOOKKEEPING[0], retry_policy=BOOKKEEPING[1])
        return result

    async def _step(self, step: Step, activity: Any, picture: PictureInput, arg: Any) -> Any:
        timeout = STEP_TIMEOUT[step]
        budget = timedelta(seconds=picture.retry_budget_s)
        if step in LOCAL_STEPS:
            return await workflow.execute_local_activity_method(
                activity, arg, start_to_close_timeout=timeout, schedule_to_close_timeout=budget,
                retry_policy=RETRY)
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=timeout, schedule_to_close_timeout=budget,
            retry_policy=RETRY)

    async def _finish(self, picture: PictureInput, status: Status,
                      error: str | None) -> PictureOutcome:
        await workflow.execute_local_activity_method(
            PictureActivities.finish_picture,
            FinishInput(picture=picture, status=status, error=error),
            start_to_close_timeout=BOOKKEEPING[0], retry_policy=BOOKKEEPING[1],
        )
        return PictureOutcome(picture_id=picture.picture_id, status=status, error=error)

