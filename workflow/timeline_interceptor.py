"""The worker keeps the books: each step's timeline entry is recorded here, around the activity,
by a worker interceptor (activity inbound) — as the consumer runtime does for choreography
(``picadaily.consumer``). The activities only call their service.

Local first (``process_picture``): a local attempt that succeeded holds its entry until the final
status (``held_timeline``); an error, an ordinary activity and a picture starting to wait for a
person (``store_metadata`` with a review reason) send theirs at once."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from picadaily.steps import PIPELINE, Step
from picadaily.timeline import timed

from .held_timeline import HeldTimeline
from .inputs import PictureInput

# The activities whose attempts the timeline shows (review's entry is the metadata's: it spans
# the wait; finish_picture is bookkeeping itself).
TIMED_STEPS = frozenset({*PIPELINE, Step.CLEAN_UP})


class TimelineInterceptor(Interceptor):
    def __init__(self, timeline: HeldTimeline) -> None:
        self.timeline = timeline

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedActivity(next, self.timeline)


def picture_of(arg: Any) -> PictureInput:
    """The picture an activity's argument is about (``PictureInput``, or a request holding one)."""
    return arg if isinstance(arg, PictureInput) else arg.picture


class _TimedActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, timeline: HeldTimeline) -> None:
        super().__init__(next)
        self._timeline = timeline

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type not in TIMED_STEPS:
            return await self.next.execute_activity(input)
        step = Step(info.activity_type)
        arg = input.args[0]
        picture = picture_of(arg)
        # a picture starting to wait for a person shows its steps so far at once
        hold = info.is_local and getattr(arg, "review_reason", None) is None

        async def attempt() -> Any:
            return await self.next.execute_activity(input)

        try:
            return await timed(self._timeline.recorder(picture, hold=hold), step,
                               picture.picture_id, picture.mode,
                               picture.attempts_before + info.attempt, attempt, picture.version)
        except httpx.HTTPError as exc:
            # Not chained: the server keeps a failure only while it is small (the dev server
            # replaced httpx's chain and stack with "Failure exceeds size limit."), and the
            # message already names the error.
            raise ApplicationError(f"{step}: {exc!r}", type="ServiceUnreachable") from None
