"""The short form of the chaos run (``make chaos`` is the long one): in each mode, ~30 uploads
with deletions and mode flips mixed in, one kill -9 per process class at a random moment; every
invariant holds (``bench/chaos.py`` lists them)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from bench.chaos import CHAOS_ENV, ONE_PER_CLASS, Chaos, jpeg, table
from cli.stack_process import RunningStack, wait_until
from tests.e2e.client import wait_final

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = RunningStack(tmp_path_factory.mktemp("chaos") / "home",
                         {**CHAOS_ENV, "PICADAILY_LAB": "true"}).start()
    try:
        yield stack
    finally:
        if stack.proc and stack.proc.poll() is None:
            stack.stop()


def test_every_invariant_holds_while_every_process_class_is_killed(
        chaos_stack: RunningStack) -> None:
    chaos = Chaos(chaos_stack, seed=11)
    results = [chaos.run(mode, uploads=30, victims=ONE_PER_CLASS[i::2], seconds=12)
               for i, mode in enumerate(("choreography", "orchestration"))]
    log.info("\n%s", table(results))
    for result in results:
        assert result.violations == [], (result.mode, result.violations)
        assert result.stuck == 0 and result.accepted > 0
        assert all(seconds >= 0 for seconds in result.recovery_s.values()), result.recovery_s


def test_the_failure_lab_stops_starts_and_kills_processes_and_arms_faults(
        chaos_stack: RunningStack) -> None:
    with httpx.Client(base_url=chaos_stack.url, timeout=60) as api:
        assert api.get("/lab").status_code == 200
        names = {p["name"]: p for p in api.get("/api/lab").json()["processes"]}
        assert {"storage", "nats", "temporal", "vision", "source", "frontend"} <= set(names)

        stopped = api.post("/api/lab/processes/thumbnails/stop").json()
        assert (stopped["state"], stopped["pid"]) == ("stopped", None)
        time.sleep(1.5)  # the supervisor leaves a stopped process alone
        assert _state(api, "thumbnails") == "stopped"
        assert api.post("/api/lab/processes/thumbnails/stop").status_code == 409
        assert api.post("/api/lab/processes/thumbnails/start").json()["state"] == "starting"
        wait_until(lambda: _state(api, "thumbnails") == "running", timeout=30,
                   what="thumbnails running again")

        pid = _pid(api, "vision")
        assert api.post("/api/lab/processes/vision/kill").status_code == 200
        wait_until(lambda: _pid(api, "vision") not in (None, pid)
                   and _state(api, "vision") == "running", timeout=60,
                   what="vision restarted and ready after kill -9")
        assert api.post("/api/lab/processes/nope/kill").status_code == 404

        slow = {"step": "make_thumbnail", "times": -1, "delay_s": 0.2, "fail": False}
        flaky = {"step": "analyse_image", "times": 1}
        assert api.post("/api/lab/faults", json={"service": "thumbnails", "plan": slow}) \
            .status_code == 204
        assert api.post("/api/lab/faults", json={"service": "vision", "plan": flaky}) \
            .status_code == 204
        faults = api.get("/api/lab").json()["faults"]
        assert faults["thumbnails"][0]["delay_s"] == 0.2 and faults["vision"][0]["remaining"] == 1
        resp = api.post("/api/pictures", data={"mode": "orchestration"},
                        files=[("pictures", ("lab.jpg", jpeg(7), "image/jpeg"))])
        [accepted] = resp.json()["accepted"]
        doc = wait_final(api, [accepted["id"]])[accepted["id"]]
        assert doc["status"] == "done"
        analysis = [t for t in doc["timeline"] if t["step"] == "analyse_image"]
        assert [t["outcome"] for t in analysis] == ["error", "ok"]
        assert api.delete("/api/lab/faults").status_code == 204
        assert api.get("/api/lab").json()["faults"]["thumbnails"] == []


def _state(api: httpx.Client, name: str) -> str:
    return str(next(p["state"] for p in api.get("/api/lab").json()["processes"]
                    if p["name"] == name))


def _pid(api: httpx.Client, name: str) -> int | None:
    pid = next(p["pid"] for p in api.get("/api/lab").json()["processes"] if p["name"] == name)
    return int(pid) if pid else None
