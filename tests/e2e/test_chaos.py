"""The short form of the chaos run (``make chaos`` is the long one): in each mode, ~30 uploads
with deletions and mode flips mixed in, one kill -9 per process class at a random moment; every
invariant holds (``bench/chaos.py`` lists them)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from bench.chaos import ONE_PER_CLASS, Chaos, table
from harness.stack import RunningStack, wait_until
from picadaily.drills import sample_jpeg
from tests.e2e.client import wait_final
from tests.e2e.conftest import SHOTS, TIMEOUT_MS
from tests.e2e.test_ui import log_in

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def chaos_stack(drill_stack: RunningStack) -> RunningStack:
    return drill_stack


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
    with chaos_stack.client(timeout=60) as api:
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
                        files=[("pictures", ("lab.jpg", sample_jpeg(7), "image/jpeg"))])
        [accepted] = resp.json()["accepted"]
        doc = wait_final(api, [accepted["id"]])[accepted["id"]]
        assert doc["status"] == "done"
        analysis = [t for t in doc["timeline"] if t["step"] == "analyse_image"]
        assert [t["outcome"] for t in analysis] == ["error", "ok"]
        assert api.delete("/api/lab/faults").status_code == 204
        assert api.get("/api/lab").json()["faults"]["thumbnails"] == []


def run_scenario(api: httpx.Client, name: str, **shorter: float) -> dict[str, Any]:
    started = api.post(f"/api/lab/scenarios/{name}", json=shorter)
    assert started.status_code == 202, started.text
    assert api.post(f"/api/lab/scenarios/{name}", json=shorter).status_code == 409  # one at once
    wait_until(lambda: not api.get("/api/lab/scenarios").json()["running"], timeout=400,
               what=f"scenario {name} finished")
    report: dict[str, Any] = api.get("/api/lab/scenarios").json()["latest"]
    assert report["state"] == "finished", report
    assert [r["mode"] for r in report["results"]] == ["orchestration", "choreography"]
    return report


def test_a_canned_scenario_runs_in_both_modes_and_reports_side_by_side(
        chaos_stack: RunningStack) -> None:
    with chaos_stack.client(timeout=60) as api:
        assert api.post("/api/lab/scenarios/nope").status_code == 404
        report = run_scenario(api, "thumbnails-down", uploads=6, outage_s=4)
        log.info("%s", json.dumps(report, indent=1))
        for result in report["results"]:
            assert (result["accepted"], result["statuses"]) == (6, {"done": 6}), result
            assert (result["stuck"], result["duplicates"], result["orphans"]) == (0, 0, 0)
            assert result["done_what"] == "thumbnails stopped for 4 s"
            assert result["last_final_s"] > 4  # nothing could finish while thumbnails was down
            assert result["saw"] and "6 of 6 uploads accepted" in result["seen"]
        saved = list((chaos_stack.home / "lab").glob("thumbnails-down-*.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text())["state"] == "finished"
    listed = subprocess.run([sys.executable, "-m", "cli", "lab", "scenario"], env=chaos_stack.env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "nats-down" in listed.stdout + listed.stderr


def test_poison_on_every_subject_is_set_aside_and_the_pictures_still_finish(
        chaos_stack: RunningStack) -> None:
    with chaos_stack.client(timeout=60) as api:
        report = run_scenario(api, "poison", uploads=3)
        for result in report["results"]:
            assert result["statuses"] == {"done": 3}, result
            # 7 subjects x 3 kinds, each dead-lettered by every consumer that reads it
            assert result["dead_letters"] >= 21, result


def test_every_page_says_when_a_part_is_down_and_the_lab_shows_the_last_scenario(
        chaos_stack: RunningStack, browser: Any) -> None:
    with chaos_stack.client(timeout=60) as api:
        assert api.get("/api/stack").json()["trouble"] == []
        assert api.post("/api/lab/processes/collage/stop").status_code == 200
        context = browser.new_context(base_url=chaos_stack.url,
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        log_in(context, chaos_stack)
        try:
            page = context.new_page()
            page.goto("/")
            banner = page.locator("#stack-trouble")
            banner.wait_for()
            assert "collage stopped" in banner.inner_text()
            page.goto("/lab")
            page.locator("#scenario-table th[scope=row]").first.wait_for()
            assert page.locator("#scenario-table thead th").all_inner_texts()[1:] == [
                "orchestration", "choreography"]
            assert "what a user saw meanwhile" in page.locator("#scenario-table").inner_text()
            page.screenshot(path=str(SHOTS / "lab.png"), full_page=True)
        finally:
            context.close()
            api.post("/api/lab/processes/collage/start")
        wait_until(lambda: api.get("/api/stack").json()["trouble"] == [], timeout=60,
                   what="collage running again")


def test_where_is_a_picture_now_is_answered_by_the_workflow_or_pieced_together(
        chaos_stack: RunningStack) -> None:
    with chaos_stack.client(timeout=60) as api:
        assert api.post("/api/lab/processes/thumbnails/stop").status_code == 200
        try:
            ids = {}
            for n, mode in enumerate(("orchestration", "choreography")):
                resp = api.post("/api/pictures", data={"mode": mode}, files=[
                    ("pictures", (f"w{n}.jpg", sample_jpeg(60 + n), "image/jpeg"))])
                ids[mode] = resp.json()["accepted"][0]["id"]
            answers: dict[str, Any] = {}

            def stuck_at_thumbnails() -> bool:
                answers.update({m: api.get(f"/api/pictures/{i}/where").json()
                                for m, i in ids.items()})
                orch, choreo = answers["orchestration"], answers["choreography"]
                return any(a["step"] == "make_thumbnail" and a["attempt"] >= 2
                           for a in orch.get("running", [])) and \
                    choreo.get("next_step") == "make_thumbnail" and \
                    choreo["next_consumer"].get("waiting", 0) >= 1
            try:
                wait_until(stuck_at_thumbnails, timeout=60, what="both stuck at thumbnails")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}; the last answers: {answers}") from None
            orch = answers["orchestration"]
            assert "workflow" in orch["answered_by"] and orch["workflow_status"] == "RUNNING"
            why = orch["running"][0]["last_failure"]  # why it is stuck, from the history
            assert "make_thumbnail" in why and "ConnectError" in why, why
            choreo = answers["choreography"]
            assert "pieced together" in choreo["answered_by"]
            assert choreo["last_recorded"]["step"] == "store_metadata"
            assert choreo["next_consumer"]["name"] == "thumbnails-analyzed"
        finally:
            api.post("/api/lab/processes/thumbnails/start")
        docs = wait_final(api, list(ids.values()))
        assert {d["status"] for d in docs.values()} == {"done"}


def _state(api: httpx.Client, name: str) -> str:
    return str(next(p["state"] for p in api.get("/api/lab").json()["processes"]
                    if p["name"] == name))


def _pid(api: httpx.Client, name: str) -> int | None:
    pid = next(p["pid"] for p in api.get("/api/lab").json()["processes"] if p["name"] == name)
    return int(pid) if pid else None
