"""The workflow's branches, in Temporal's time-skipping test server, against stand-in activities
registered under the real names (as temporalio/samples-python tests do), each test on a fresh
task queue. Retries with back-off take no wall-clock time here."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cli.stack import binary
from picadaily.contracts import Analysis, CollageResult, ReviewDecision, Safety, Thumbnail
from picadaily.moderation import REVIEW_UPDATE
from picadaily.safety import SafetyVerdict, check_safety
from picadaily.steps import Status, Step
from picadaily.temporal_client import data_converter
from tests.unit.process_picture_before_exif import ProcessPicture as ProcessPictureBeforeExif
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
from workflow.process_picture import ProcessPicture


@pytest.fixture(scope="module")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=data_converter,
        # The SDK's default is 5 s; on a loaded 2-core CI runner the server's first start took
        # longer (CI of stop 30: "did not start within 5s", every test of this module in error).
        test_server_startup_timeout=timedelta(seconds=60),
    ) as environment:
        yield environment


@dataclass
class StandIns:
    """Activities under the real names; each records its calls and may fail as told."""

    safety: Safety = field(default_factory=lambda: Safety(
        judged=["adult"], likelihoods={"adult": "VERY_UNLIKELY"}, backend="stand-in"))
    failures: dict[str, int] = field(default_factory=dict)  # step -> failing attempts (-1: all)
    not_retryable: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    finished: list[FinishInput] = field(default_factory=list)
    cleaned: list[CleanUpInput] = field(default_factory=list)
    reviews: list[ReviewInput] = field(default_factory=list)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)  # stored for review
    storing: asyncio.Event = field(default_factory=asyncio.Event)  # storing for review began
    gate: asyncio.Event | None = None  # storing for review waits for it
    thumbnail_attempts: list[int] = field(default_factory=list)  # as the timeline numbers them

    def _maybe_fail(self, step: str) -> None:
        self.calls.append(step)
        if step in self.not_retryable:
            raise ApplicationError(f"{step} cannot work", type="NotRetryable",
                                   non_retryable=True)
        left = self.failures.get(step, 0)
        if left != 0:
            self.failures[step] = left - 1 if left > 0 else left
            raise ApplicationError(f"{step} is down", type="ServiceError")

    def activities(self) -> list[object]:
        @activity.defn(name=Step.ANALYSE_IMAGE.value)
        async def analyse_image(picture: PictureInput) -> Analysis:
            self._maybe_fail(Step.ANALYSE_IMAGE)
            return Analysis(safety=self.safety)

        @activity.defn(name=Step.EXTRACT_EXIF.value)
        async def extract_exif(picture: PictureInput) -> None:
            self._maybe_fail(Step.EXTRACT_EXIF)

        @activity.defn(name=Step.CHECK_SAFETY.value)
        async def check(req: SafetyInput) -> SafetyVerdict:
            self._maybe_fail(Step.CHECK_SAFETY)
            return check_safety(req.safety)

        @activity.defn(name=Step.STORE_METADATA.value)
        async def store_metadata(req: AnalysisInput) -> None:
            self._maybe_fail(Step.STORE_METADATA)
            if req.review_reason is not None:
                self.storing.set()
                if self.gate is not None:
                    await self.gate.wait()
                self.waiting.set()

        @activity.defn(name=Step.REVIEW.value)
        async def review(req: ReviewInput) -> ReviewResult:
            """As the metadata service: the first decision applied, a repeat recognised."""
            self.calls.append(Step.REVIEW)
            self.reviews.append(req)
            approved = req.decision.decision == "approve"
            return ReviewResult(outcome="applied",
                                status=Status.PROCESSING if approved else Status.REJECTED,
                                error=None if approved else req.decision.reason)

        @activity.defn(name=Step.MAKE_THUMBNAIL.value)
        async def make_thumbnail(picture: PictureInput) -> Thumbnail:
            self.thumbnail_attempts.append(picture.attempts_before + activity.info().attempt)
            self._maybe_fail(Step.MAKE_THUMBNAIL)

            return Thumbnail(width=400, height=300)

        @activity.defn(name=Step.UPDATE_COLLAGE.value)
        async def update_collage(picture: PictureInput) -> CollageResult:
            self._maybe_fail(Step.UPDATE_COLLAGE)
            return CollageResult(pictures=[picture.picture_id], rebuilt=True)

        @activity.defn(name=Step.CLEAN_UP.value)
        async def clean_up(req: CleanUpInput) -> None:
            self.cleaned.append(req)

        @activity.defn(name="finish_picture")
        async def finish_picture(req: FinishInput) -> None:
            self.finished.append(req)

        return [analyse_image, extract_exif, check, store_metadata, review, make_thumbnail,
                update_collage, clean_up, finish_picture]


@pytest.fixture(params=[False, True], ids=["activities", "local-first"])
def local_first(request: pytest.FixtureRequest) -> bool:
    """Every branch both ways: steps as ordinary activities, and local first (the default)."""
    return bool(request.param)


@dataclass
class Env:
    """The time-skipping server, and how the pictures of this test run their steps."""

    temporal: WorkflowEnvironment
    local_first: bool

    @property
    def client(self) -> Client:
        return self.temporal.client


@pytest.fixture
def env(temporal_env: WorkflowEnvironment, local_first: bool) -> Env:
    return Env(temporal_env, local_first)


async def run(env: Env, stand_ins: StandIns) -> PictureOutcome:
    async with started(env, stand_ins) as handle:
        outcome: PictureOutcome = await handle.result()
    return outcome


@contextlib.asynccontextmanager
async def started(env: Env, stand_ins: StandIns) -> AsyncIterator[Any]:
    queue = f"test-{uuid.uuid4().hex}"
    picture = PictureInput(picture_id="p1", bucket="b", key="p1",
                           local_first=env.local_first)
    async with Worker(env.client, task_queue=queue, workflows=[ProcessPicture],
                      activities=stand_ins.activities()):
        yield await env.client.start_workflow(
            ProcessPicture.run, picture, id=f"picture-{uuid.uuid4().hex}", task_queue=queue)


PIPELINE_CALLS = [Step.ANALYSE_IMAGE, Step.EXTRACT_EXIF, Step.CHECK_SAFETY, Step.STORE_METADATA,
                  Step.MAKE_THUMBNAIL, Step.UPDATE_COLLAGE]


async def test_a_safe_picture_goes_through_every_step_once_and_ends_done(
        env: Env) -> None:
    stand_ins = StandIns()
    outcome = await run(env, stand_ins)
    assert outcome == PictureOutcome(picture_id="p1", status=Status.DONE)
    assert stand_ins.calls == PIPELINE_CALLS
    assert [f.status for f in stand_ins.finished] == [Status.DONE] and not stand_ins.cleaned


async def test_an_unsafe_picture_is_rejected_after_the_safety_check(
        env: Env) -> None:
    stand_ins = StandIns(safety=Safety(judged=["adult"], likelihoods={"adult": "VERY_LIKELY"}))
    outcome = await run(env, stand_ins)
    assert (outcome.status, outcome.error) == (Status.REJECTED, "unsafe: adult VERY_LIKELY")
    assert stand_ins.calls == [Step.ANALYSE_IMAGE, Step.EXTRACT_EXIF, Step.CHECK_SAFETY]
    assert not stand_ins.cleaned


async def test_a_step_that_fails_then_recovers_is_retried_and_the_picture_ends_done(
        env: Env) -> None:
    stand_ins = StandIns(failures={Step.MAKE_THUMBNAIL: 2})
    outcome = await run(env, stand_ins)
    assert outcome.status == Status.DONE
    assert stand_ins.calls.count(Step.MAKE_THUMBNAIL) == 3


async def test_local_first_the_sunny_path_has_no_activity_task_and_a_failing_step_gets_one(
        temporal_env: WorkflowEnvironment) -> None:
    """Local first: no step of a sunny picture costs the server an activity task; a step still
    failing after its local attempts becomes an ordinary activity (visible in the history) whose
    attempts the timeline numbers on from the local ones."""
    from temporalio.api.enums.v1 import EventType

    env = Env(temporal_env, local_first=True)
    histories = []
    for stand_ins in (StandIns(), rainy := StandIns(failures={Step.MAKE_THUMBNAIL: 3})):
        async with started(env, stand_ins) as handle:
            assert (await handle.result()).status == Status.DONE
            histories.append((await handle.fetch_history()).events)
    sunny_tasks, rainy_tasks = (
        [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
         if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
        for events in histories)
    assert sunny_tasks == []
    assert rainy_tasks == [Step.MAKE_THUMBNAIL]
    assert rainy.thumbnail_attempts == [1, 2, 3, 4]  # two local, then the activity's 1 and 2
    assert len(histories[0]) < len(histories[1]) < 40


async def test_retries_outlast_a_restart_of_minutes(env: Env) -> None:
    """25 failed attempts with a back-off capped at 10 s: about 3 minutes of an unreachable
    service, and the picture still ends done."""
    stand_ins = StandIns(failures={Step.ANALYSE_IMAGE: 25})
    outcome = await run(env, stand_ins)
    assert outcome.status == Status.DONE
    assert stand_ins.calls.count(Step.ANALYSE_IMAGE) == 26


async def test_a_step_that_never_recovers_is_cleaned_up_and_the_picture_fails(
        env: Env) -> None:
    stand_ins = StandIns(failures={Step.UPDATE_COLLAGE: -1})
    outcome = await run(env, stand_ins)
    assert outcome.status == Status.FAILED
    assert outcome.error == \
        "update_collage failed after 300 s of retries: update_collage is down"
    assert stand_ins.calls.count(Step.UPDATE_COLLAGE) > 25
    assert [c.had_thumbnail for c in stand_ins.cleaned] == [True]
    assert [f.status for f in stand_ins.finished] == [Status.FAILED]


async def test_a_not_retryable_error_fails_at_once_without_a_thumbnail_to_undo(
        env: Env) -> None:
    stand_ins = StandIns(not_retryable={Step.ANALYSE_IMAGE})
    outcome = await run(env, stand_ins)
    assert (outcome.status, outcome.error) == (
        Status.FAILED, "analyse_image failed: analyse_image cannot work")
    assert stand_ins.calls == [Step.ANALYSE_IMAGE]
    assert [c.had_thumbnail for c in stand_ins.cleaned] == [False]


BORDERLINE = Safety(judged=["adult", "racy"], likelihoods={"adult": "UNLIKELY", "racy": "POSSIBLE"})


async def test_a_borderline_picture_waits_for_the_update_and_one_decision_only(
        env: Env) -> None:
    stand_ins = StandIns(safety=BORDERLINE, gate=asyncio.Event())
    async with started(env, stand_ins) as handle:
        await asyncio.wait_for(stand_ins.storing.wait(), 10)  # storing it as waiting, right now
        # a decision as soon as the status says awaiting_review is taken, not refused
        update = asyncio.ensure_future(handle.execute_update(
            REVIEW_UPDATE, ReviewDecision(decision="approve"), id="a"))
        # (the update reaching the server while the step still runs: the SDK tells the test
        # nothing when it was admitted, and 0.2 s is many round trips to the local test server)
        await asyncio.sleep(0.2)
        assert stand_ins.gate is not None
        stand_ins.gate.set()
        assert await update == "approve"
        # the same update again (a second press): one update, the same answer
        assert await handle.execute_update(
            REVIEW_UPDATE, ReviewDecision(decision="approve"), id="a") == "approve"
        with pytest.raises(WorkflowUpdateFailedError) as second:
            await handle.execute_update(REVIEW_UPDATE, ReviewDecision(decision="reject"), id="b")
        assert "already decided: approve by admin" in str(second.value.cause)
        outcome: PictureOutcome = await handle.result()
    assert outcome.status == Status.DONE
    steps = [Step.ANALYSE_IMAGE, Step.EXTRACT_EXIF, Step.CHECK_SAFETY, Step.STORE_METADATA,
             Step.REVIEW, Step.MAKE_THUMBNAIL, Step.UPDATE_COLLAGE]
    if env.local_first:
        # Local activities are at least once: this (Java, time-skipping) test server retries the
        # workflow task the updates arrived in, and the local steps after the review run again
        # (idempotent steps; the dev server did not, checked by hand with this very test).
        assert list(dict.fromkeys(stand_ins.calls)) == steps
    else:
        assert stand_ins.calls == steps
    assert [r.decision.decision for r in stand_ins.reviews] == ["approve"]


async def test_a_rejected_review_ends_rejected_with_no_thumbnail(
        env: Env) -> None:
    stand_ins = StandIns(safety=BORDERLINE)
    async with started(env, stand_ins) as handle:
        await asyncio.wait_for(stand_ins.waiting.wait(), 10)
        await handle.execute_update(
            REVIEW_UPDATE, ReviewDecision(decision="reject", reason="a real person's face"))
        outcome: PictureOutcome = await handle.result()
    assert (outcome.status, outcome.error) == (Status.REJECTED, "a real person's face")
    assert Step.MAKE_THUMBNAIL not in stand_ins.calls and not stand_ins.finished


async def test_no_decision_in_time_rejects_the_picture(env: Env) -> None:
    """The durable timer of 24 h (skipped by the test server)."""
    stand_ins = StandIns(safety=BORDERLINE)
    outcome = await run(env, stand_ins)
    assert outcome.status == Status.REJECTED
    [review] = stand_ins.reviews
    assert (review.decision.decision, review.decision.by, review.decision.reason) == (
        "reject", "timeout", "no decision in 24 h")
    assert review.decision_id.endswith(":timeout")


async def test_a_safe_picture_refuses_a_review_decision(env: Env) -> None:
    stand_ins = StandIns(failures={Step.MAKE_THUMBNAIL: -1})  # keeps it running a while
    async with started(env, stand_ins) as handle:
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(REVIEW_UPDATE, ReviewDecision(decision="approve"))
        assert "not waiting for review" in str(info.value.cause)
        await handle.terminate()


async def _waiting_on_its_timer(handle: Any) -> None:
    """Until the workflow started the review's timer: its worker finished the task that got it
    there (a worker shut down holding a task would delay the next one by its timeout)."""
    from temporalio.api.enums.v1 import EventType

    while True:
        events = (await handle.fetch_history()).events
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events):
            return
        await asyncio.sleep(0.05)


async def test_a_workflow_started_before_the_exif_step_finishes_on_the_old_path(
        env: Env) -> None:
    """Pictures in flight during an upgrade: a borderline picture, started by a worker running
    the workflow as it was before ``extract_exif`` (a frozen copy), waits for review while the
    worker is replaced by one running today's code. The old run replays without the patch
    marker and never calls the new step; a new run does."""
    queue = f"test-{uuid.uuid4().hex}"
    before = StandIns(safety=BORDERLINE)
    # (no workflow cache: a cached run's next task would go to this worker's sticky queue and
    # wait there for its timeout before reaching the new worker)
    async with Worker(env.client, task_queue=queue, workflows=[ProcessPictureBeforeExif],
                      activities=before.activities(), max_cached_workflows=0):
        handle = await env.client.start_workflow(
            ProcessPictureBeforeExif.run, PictureInput(picture_id="old", bucket="b", key="old",
                                                       local_first=env.local_first),
            id=f"picture-{uuid.uuid4().hex}", task_queue=queue)
        await asyncio.wait_for(before.waiting.wait(), 10)  # in flight, past analyse
        await asyncio.wait_for(_waiting_on_its_timer(handle), 10)
    async with Worker(env.client, task_queue=queue, workflows=[ProcessPicture],
                      activities=before.activities()):  # the upgraded worker
        await handle.execute_update(REVIEW_UPDATE, ReviewDecision(decision="approve"))
        outcome: PictureOutcome = await handle.result()
    assert outcome.status == Status.DONE
    assert Step.EXTRACT_EXIF not in before.calls
    assert before.calls.count(Step.ANALYSE_IMAGE) == 1  # not run again after the upgrade
    assert before.calls[-2:] == [Step.MAKE_THUMBNAIL, Step.UPDATE_COLLAGE]

    after = StandIns()
    assert (await run(env, after)).status == Status.DONE
    assert after.calls == PIPELINE_CALLS  # a new run takes the new step
