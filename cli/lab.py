"""``picadaily lab …``: the failure lab from a terminal (the same actions as the /lab page)."""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import httpx

from picadaily.faults import FAULTY_SERVICES as FAULTY
from picadaily.faults import FaultPlan
from picadaily.settings import Settings

log = logging.getLogger("picadaily.lab")


def lab(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return _lab(settings, args)
    except httpx.HTTPError as exc:
        log.error("the lab did not answer (%r): is the stack running with PICADAILY_LAB=true?",
                  exc)
        return 1


def _lab(settings: Settings, args: argparse.Namespace) -> int:
    """Through the frontend's admin API (``/api/lab``), like the /lab page: the runner's control
    endpoint and the services' fault routes take only the stack's own processes."""
    if args.action == "scenario":
        return scenario(settings, args)
    with httpx.Client(base_url=f"http://{settings.host}:{settings.port}", timeout=30,
                      headers=admin_headers(settings)) as api:
        return _lab_action(api, args)


def _lab_action(api: httpx.Client, args: argparse.Namespace) -> int:
    if args.action == "status":
        resp = api.get("/api/lab")
        if not resp.is_success:
            log.error("%s", resp.json().get("error", resp.text))
            return 1
        for p in resp.json()["processes"]:
            log.info("%-14s %-11s pid %-8s restarts %d", p["name"], p["state"], p["pid"] or "-",
                     p["restarts"])
        return 0
    if args.action in ("stop", "start", "kill"):
        if not args.target:
            log.error("say which process: picadaily lab %s <name>", args.action)
            return 2
        resp = api.post(f"/api/lab/processes/{args.target}/{args.action}")
        log.info("%s", resp.json().get("error") or f"{args.target}: {resp.json()['state']}")
        return 0 if resp.is_success else 1
    if args.action == "clear":
        resp = api.delete("/api/lab/faults")
        if not resp.is_success:
            log.error("%s", resp.json().get("error", resp.text))
            return 1
        log.info("faults cleared")
        return 0
    if args.target not in FAULTY or not args.step:
        log.error("picadaily lab fault <%s> <step> [--times N] [--probability P] "
                  "[--delay S] [--slow-only]", "|".join(FAULTY))
        return 2
    plan = FaultPlan(step=args.step, times=args.times, probability=args.probability,
                     delay_s=args.delay, fail=not args.slow_only)
    resp = api.post("/api/lab/faults", json={"service": args.target, "plan": plan.model_dump()})
    if not resp.is_success:
        log.error("%s: %s", args.target, resp.json().get("error", resp.text))
        return 1
    log.info("armed on %s: %s", args.target, plan.model_dump())
    return 0


def scenario(settings: Settings, args: argparse.Namespace) -> int:
    """Run a canned scenario in both modes through the running frontend; print the table."""
    with httpx.Client(base_url=f"http://{settings.host}:{settings.port}", timeout=30,
                      headers=admin_headers(settings)) as api:
        known = api.get("/api/lab/scenarios")
        if known.status_code == 404:
            log.error("%s", known.json()["error"])
            return 1
        if not args.target:
            for s in known.json()["scenarios"]:
                log.info("%-18s %s", s["name"], s["title"])
            return 0
        body = {"uploads": args.uploads, "outage_s": args.outage}
        resp = api.post(f"/api/lab/scenarios/{args.target}", json=body)
        if resp.status_code != 202:
            log.error("%s", resp.json()["error"])
            return 1
        log.info("running %s in both modes, one after the other…", resp.json()["title"])
        while (state := api.get("/api/lab/scenarios").json())["running"]:
            time.sleep(2)
    report = state["latest"]
    if report["state"] != "finished":
        log.error("the scenario failed: %s", report["error"])
        return 1
    log.info("%s", report_markdown(report))
    return 0



def admin_headers(settings: Settings) -> dict[str, str]:
    """The admin token: PICADAILY_ADMIN_TOKEN, else the one the local stack runner left."""
    token = settings.admin_token
    path = settings.admin_token_path()
    if not token and path.exists():
        token = path.read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


# The rows of a scenario's report, as `picadaily lab scenario` and `make scenarios` print it.
ROWS = (("what was done", "done_what"), ("accepted", "accepted"), ("refused uploads", "refused"),
        ("statuses", "statuses"), ("stuck", "stuck"), ("duplicate steps", "duplicates"),
        ("orphan thumbnails", "orphans"), ("last final after (s)", "last_final_s"),
        ("longest wait for a final status (s)", "longest_processing_s"),
        ("retried attempts", "retries"), ("dead letters", "dead_letters"),
        ("what a user saw meanwhile", "seen"))


def report_markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    lines = [f"**{report['title']}**", "",
             "| | " + " | ".join(r["mode"] for r in results) + " |",
             "|---|" + "---|" * len(results)]
    for label, key in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(r[key]) for r in results) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return str(value)
