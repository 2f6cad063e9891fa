"""Workflow ``ProcessPicture``: analyse image -> check safety -> store metadata -> thumbnail ->
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
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from picadaily.contracts import ReviewDecision
from picadaily.moderation import REVIEW_UPDATE, timeout_decision
from picadaily.steps import PIPELINE, Status, Step

from .activities import NOT_RETRYABLE_TYPES, PictureActivities
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
    Step.EXTRACT_EXIF: timedelta(seconds=30),
    Step.CHECK_SAFETY: timedelta(seconds=10),
    Step.STORE_METADATA: timedelta(seconds=10),
    Step.MAKE_THUMBNAIL: timedelta(seconds=30),
    Step.UPDATE_COLLAGE: timedelta(seconds=30),
}
assert tuple(STEP_TIMEOUT) == PIPELINE, "every pipeline step has a timeout, in pipeline order"
# Versioned changes of this workflow (workflow.patched), oldest first.
EXIF_PATCH = "extract-exif"
LOCAL_FIRST_PATCH = "local-first-steps"
# Tiny steps run as local activities, in the worker that runs the workflow: no task-queue round
# trip through the server, one marker in the history instead of three events.
LOCAL_STEPS = frozenset({Step.CHECK_SAFETY})
# Local first (PictureInput.local_first): every other step's first attempts run as a local
# activity too; the sunny path then costs the server no activity task at all (39 history events
# per picture before, measured). A step still failing after them becomes an ordinary activity:
# the rainy path keeps its durable retries, and the history (the Temporal UI, /where) shows the
# step waiting, its attempt and its last failure. Every step is idempotent, so a worker killed
# during a local attempt costs a repeat of it, nothing more.
LOCAL_ATTEMPTS = 2
LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_attempts=LOCAL_ATTEMPTS,
    non_retryable_error_types=list(NOT_RETRYABLE_TYPES),
)
BOOKKEEPING = (timedelta(seconds=10), RetryPolicy(maximum_interval=timedelta(seconds=10)))


# How a step's last attempt fails: an ordinary activity raises ActivityError (with the retry
# state); a local one (this SDK) raises its attempt's own error.
STEP_FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)


def _not_retryable(error: BaseException) -> bool:
    if isinstance(error, ActivityError):
        return error.retry_state == RetryState.NON_RETRYABLE_FAILURE
    return isinstance(error, ApplicationError) and (
        error.non_retryable or error.type in NOT_RETRYABLE_TYPES)


def failure_reason(step: Step, error: BaseException, budget_s: float) -> str:
    message = _last_message(error)
    retries_over = (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED)
    if isinstance(error, ActivityError) and error.retry_state in retries_over:
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
        # (A run an older worker started has no marker and replays on ordinary activities.)
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
        if self._local_first:
            try:
                return await workflow.execute_local_activity_method(
                    activity, arg, start_to_close_timeout=timeout, retry_policy=LOCAL_RETRY)
            except STEP_FAILURES as error:
                if _not_retryable(error):
                    raise  # no other attempt would do better
                workflow.logger.info("%s of %s still failing after %d local attempts (%s): "
                                     "an ordinary activity from now", step,
                                     picture.picture_id, LOCAL_ATTEMPTS, _last_message(error))
            arg = _after(arg, LOCAL_ATTEMPTS)
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


def _after(arg: Any, attempts: int) -> Any:
    """The activity's argument, its picture saying how many attempts came before."""
    if isinstance(arg, PictureInput):
        return arg.model_copy(update={"attempts_before": attempts})
    return arg.model_copy(update={"picture": _after(arg.picture, attempts)})
