"""Moderation end to end, on its own stack where the local safety model calls every photo
borderline (review band [0, 0.85)): the pictures wait, the processes that hold the waiting state
(metadata, worker) and NATS (which holds choreography's scheduled timeout) are killed -9 during
the wait, then a person approves in the browser and by the API, and the rest time out. Every
decision is applied exactly once, whichever arrived twice."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.stack import RunningStack, wait_until
from picadaily.steps import Status, Step
from picadaily.storage import S3ObjectStore
from tests.conftest import photos
from tests.e2e.client import upload, wait_final
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_ui import log_in, shot

pytestmark = pytest.mark.e2e
REVIEW_TIMEOUT_S = 40
KILLED = ("metadata", "worker", "nats")


@pytest.fixture(scope="module")
def review_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A second stack beside the session's (``test_two_stacks_side_by_side_share_nothing``
    checks they share nothing), stopped with Ctrl-C at the end, and what a stopped stack may
    not leave is looked for."""
    stack = RunningStack(tmp_path_factory.mktemp("review") / "home", {
        "PICADAILY_SAFETY_REVIEW_BAND": "[0.0, 0.85]",
        "PICADAILY_REVIEW_TIMEOUT": str(REVIEW_TIMEOUT_S), "PICADAILY_LAB": "true"}).start()
    try:
        yield stack
    finally:
        if stack.proc and stack.proc.poll() is None:
            assert stack.stop() == 0
    assert_nothing_left(stack)


def picadaily(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line, as an admin on the same machine would run it."""
    return subprocess.run([sys.executable, "-m", "cli", *args], env=stack.env, text=True,
                          capture_output=True, timeout=60)


def statuses(api: httpx.Client, ids: list[str]) -> dict[str, str]:
    return {i: api.get(f"/api/pictures/{i}").json().get("status", "?") for i in ids}


def kill_and_wait_restarted(api: httpx.Client, name: str) -> None:
    def pid() -> Any:
        return next(p["pid"] for p in api.get("/api/lab").json()["processes"]
                    if p["name"] == name)

    def running_again() -> bool:
        state = next(p for p in api.get("/api/lab").json()["processes"] if p["name"] == name)
        return state["state"] == "running" and state["pid"] not in (None, before)

    before = pid()
    assert api.post(f"/api/lab/processes/{name}/kill").status_code == 200
    wait_until(running_again, timeout=60, what=f"{name} restarted after kill -9",
               tolerate=(httpx.HTTPError, StopIteration))


def test_waiting_pictures_survive_kill_9_and_each_gets_one_decision(
        review_stack: RunningStack, browser: Any) -> None:
    started = time.monotonic()
    with review_stack.client(timeout=60) as api:
        two = [p for p in photos("good") if p.name in {"coffee.png", "horse.png"}]
        ids: dict[str, list[str]] = {}
        for mode in ("orchestration", "choreography"):
            ids[mode] = [a["id"] for a in upload(api, two, mode=mode).json()["accepted"]]
        every = ids["orchestration"] + ids["choreography"]
        wait_until(lambda: set(statuses(api, every).values()) == {Status.AWAITING_REVIEW},
                   timeout=60, what="every picture waiting for review")
        assert api.get("/api/collage").headers.get("x-picadaily-collage-pictures", "") == ""
        waited = api.get("/api/pictures", params={"status": "awaiting_review"}).json()
        assert {p["id"] for p in waited["pictures"]} == set(every)
        with httpx.Client(base_url=review_stack.url, timeout=30) as anonymous:
            # not in the gallery, nor its trace or whereabouts, to anybody but an admin
            listed = {p["id"] for p in anonymous.get("/api/pictures").json()["pictures"]}
            assert not listed & set(every)
            assert anonymous.get("/api/pictures",
                                 params={"status": "awaiting_review"}).status_code == 401
            for route in ("trace", "where", "image"):
                assert anonymous.get(f"/api/pictures/{every[0]}/{route}").status_code == 401

        for name in KILLED:  # whatever holds the waiting state dies -9, and comes back
            kill_and_wait_restarted(api, name)

        # A person approves the choreographed coffee in the browser...
        approved = {mode: picture_ids[0] for mode, picture_ids in ids.items()}
        context = browser.new_context(base_url=review_stack.url,
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        log_in(context, review_stack)
        page = context.new_page()
        page.goto("/review")
        for picture_id in every:
            page.locator(f"#review-{picture_id}").wait_for()
        shot(page, "review")
        card = page.locator(f"#review-{approved['choreography']}")
        card.locator("input[name=reason]").fill("latte art, nothing else")
        card.locator("button.approve").click()
        page.locator(".notice:has-text('approved')").wait_for()
        # ...and the same button again, from the API: the first decision stands, once
        again = api.post(f"/api/pictures/{approved['choreography']}/review",
                         json={"decision": "reject"})
        assert again.status_code in (202, 409), again.text
        # the orchestrated one from the command line, then by the API (the same update again)
        listed = picadaily(review_stack, "review", "list")
        still_waiting = [*ids["orchestration"], ids["choreography"][1]]
        assert all(i in listed.stdout for i in still_waiting), listed.stdout
        done = picadaily(review_stack, "review", "approve", approved["orchestration"],
                         "--reason", "fine")
        assert done.returncode == 0 and "approved (orchestration" in done.stdout, done.stdout
        # the same again: one Update (202) while it waits, refused (409) once it moved on
        resp = api.post(f"/api/pictures/{approved['orchestration']}/review",
                        json={"decision": "approve", "reason": "fine"})
        assert resp.status_code in (202, 409), resp.text
        contrary = api.post(f"/api/pictures/{approved['orchestration']}/review",
                            json={"decision": "reject"})
        # refused: by the workflow's validator, or by the frontend once the status moved on
        assert contrary.status_code == 409, contrary.text
        assert "already decided" in contrary.text or "not waiting for review" in contrary.text

        docs = wait_final(api, every, timeout=REVIEW_TIMEOUT_S + 60)
        for mode, picture_ids in ids.items():
            yes, timed_out = docs[picture_ids[0]], docs[picture_ids[1]]
            assert yes["status"] == Status.DONE, (mode, yes)
            assert yes["review"]["decision"] == "approve" and yes["thumbnail_url"]
            assert (timed_out["status"], timed_out["error"]) == (
                Status.REJECTED, f"no decision in {REVIEW_TIMEOUT_S} s"), (mode, timed_out)
            assert timed_out["review"]["decided_by"] == "timeout"
            for doc in (yes, timed_out):
                reviews = [t["outcome"] for t in doc["timeline"] if t["step"] == Step.REVIEW]
                assert len(reviews) == 1, (mode, doc["timeline"])  # exactly one decision
                oks = [t["step"] for t in doc["timeline"] if t["outcome"] == "ok"]
                assert len(oks) == len(set(oks)), (mode, oks)
        assert docs[approved["choreography"]]["review"]["note"] == "latte art, nothing else"
        members = set(api.get("/api/collage").headers["x-picadaily-collage-pictures"].split(","))
        assert members == set(approved.values())
        # the timeout was not early: it counts from the request, across the kills
        assert time.monotonic() - started >= REVIEW_TIMEOUT_S
        page.goto("/review")
        page.locator("#review-empty").wait_for()
        context.close()


# --- two stacks side by side ------------------------------------------------------------------
# The review stack runs beside the session's for this whole module: two stacks on one machine at
# once, told apart by nothing but their home and their port (every other port derives from it).

TMP = Path(tempfile.gettempdir())


def stack_files_in_tmp(before: set[str]) -> list[str]:
    """What a store used to leave in /tmp (sockets, logs), or anything named like the stack's
    servers, that was not there before this session's first stack started."""
    return sorted(p.name for p in TMP.iterdir() if p.name not in before
                  and p.name.startswith(("seaweedfs-", "weed.", "temporal", "nats")))


def assert_nothing_left(stack: RunningStack) -> None:
    home = stack.home
    for leftover in (home / "tmp", home / "storage" / "sockets", home / "secrets"):
        assert not leftover.exists(), f"{leftover} is left after the stack stopped"
    assert list((home / "storage").iterdir())  # the data stays
    assert (home.stat().st_mode & 0o077) == 0, "the home is for its user only"


def test_two_stacks_side_by_side_share_nothing(review_stack: RunningStack, stack: RunningStack,
                                               api: httpx.Client, tmp_before: set[str]) -> None:
    """Each finished its own pictures (this module's in the review stack, one of its own in the
    session's); neither store holds the other's; nothing of theirs is in /tmp. (What the review
    stack leaves once stopped is checked by its fixture.)"""
    assert review_stack.port != stack.port
    [mine] = upload(api, photos("good")[:1], mode="choreography").json()["accepted"]
    assert wait_final(api, [mine["id"]])[mine["id"]]["status"] == Status.DONE
    with review_stack.client() as other:
        theirs = [p["id"] for p in other.get("/api/pictures", params={"limit": 100}).json()[
            "pictures"] if p["status"] == Status.DONE]
        assert theirs
        assert other.get(f"/api/pictures/{mine['id']}").status_code == 404
    assert api.get(f"/api/pictures/{theirs[0]}").status_code == 404
    for running, own, foreign in ((stack, [mine["id"]], theirs), (review_stack, theirs,
                                                                  [mine["id"]])):
        settings = running.settings()
        keys = set(S3ObjectStore.from_settings(settings).list_keys(settings.pictures_bucket, ""))
        assert set(own) <= keys and not set(foreign) & keys
    assert stack_files_in_tmp(tmp_before) == [], f"the stacks wrote to {TMP}"
