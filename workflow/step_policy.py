"""How ``ProcessPicture`` runs each step: its timeout, its retries, where its attempts run, and
what a step's last failure says. The flow itself (which step after which) is in
``process_picture.py``; this is the configuration under it, each choice explained once here.

- **Retries**: a retryable error is retried with a capped back-off until the picture's retry
  budget (``PictureInput.retry_budget_s``, from the settings) runs out: longer than a restart
  of any part. Errors of ``NOT_RETRYABLE_TYPES`` (a broken image, a refused write) end the step
  at once.
- **Local activities**: tiny steps (``LOCAL_STEPS``) run in the worker that runs the workflow:
  no task-queue round trip through the server, one marker in the history instead of three
  events.
- **Local first** (``PictureInput.local_first``, the setting ``PICADAILY_LOCAL_FIRST_STEPS``): every
  other step's first ``LOCAL_ATTEMPTS`` attempts run as a local activity too; the sunny path
  then costs the server no activity task at all (39 history events per picture before,
  measured: docs/performance.md). A step still failing after them becomes an ordinary activity:
  the rainy path keeps its durable retries, and the history (the Temporal UI, ``/where``) shows
  the step waiting, its attempt and its last failure. Every step is idempotent, so a worker
  killed during a local attempt costs a repeat of it, nothing more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from picadaily.steps import PIPELINE, Step

from .activities import NOT_RETRYABLE_TYPES
from .inputs import PictureInput

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
LOCAL_STEPS = frozenset({Step.CHECK_SAFETY})
LOCAL_ATTEMPTS = 2
LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_attempts=LOCAL_ATTEMPTS,
    non_retryable_error_types=list(NOT_RETRYABLE_TYPES),
)
# The bookkeeping activities (finish, clean up, apply a review): short, retried without end.
BOOKKEEPING_TIMEOUT = timedelta(seconds=10)
BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))

# How a step's last attempt fails: an ordinary activity raises ActivityError (with the retry
# state); a local one (this SDK) raises its attempt's own error.
STEP_FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)


async def run_step(step: Step, activity: Any, picture: PictureInput, arg: Any, *,
                   local_first: bool) -> Any:
    """Run one step's activity under its policy; raises one of ``STEP_FAILURES`` when the step
    gives up."""
    timeout = STEP_TIMEOUT[step]
    budget = timedelta(seconds=picture.retry_budget_s)
    if step in LOCAL_STEPS:
        return await workflow.execute_local_activity_method(
            activity, arg, start_to_close_timeout=timeout, schedule_to_close_timeout=budget,
            retry_policy=RETRY)
    if local_first:
        try:
            return await workflow.execute_local_activity_method(
                activity, arg, start_to_close_timeout=timeout, retry_policy=LOCAL_RETRY)
        except STEP_FAILURES as error:
            if _not_retryable(error):
                raise  # no other attempt would do better
            workflow.logger.info("%s of %s still failing after %d local attempts (%s): "
                                 "an ordinary activity from now", step, picture.picture_id,
                                 LOCAL_ATTEMPTS, _last_message(error))
        arg = _after(arg, LOCAL_ATTEMPTS)
    return await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=timeout, schedule_to_close_timeout=budget,
        retry_policy=RETRY)


def failure_reason(step: Step, error: BaseException, budget_s: float) -> str:
    message = _last_message(error)
    retries_over = (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED)
    if isinstance(error, ActivityError) and error.retry_state in retries_over:
        return f"{step} failed after {budget_s:.0f} s of retries: {message}"
    return f"{step} failed: {message}"


def _not_retryable(error: BaseException) -> bool:
    if isinstance(error, ActivityError):
        return error.retry_state == RetryState.NON_RETRYABLE_FAILURE
    return isinstance(error, ApplicationError) and (
        error.non_retryable or error.type in NOT_RETRYABLE_TYPES)


def _last_message(error: BaseException) -> str:
    """The last attempt's own words (an application error somewhere down the cause chain)."""
    cause: BaseException | None = error.cause if isinstance(error, ActivityError) else error
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.message
        cause = getattr(cause, "cause", None)
    return str(error.cause or error) if isinstance(error, ActivityError) else str(error)


def _after(arg: Any, attempts: int) -> Any:
    """The activity's argument, its picture saying how many attempts came before."""
    if isinstance(arg, PictureInput):
        return arg.model_copy(update={"attempts_before": attempts})
    return arg.model_copy(update={"picture": _after(arg.picture, attempts)})
