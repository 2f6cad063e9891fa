"""``make scenarios``: every canned failure-lab scenario at full size, each in both modes, on a
fresh stack; prints the side-by-side tables and saves ``bench/results/scenarios-<time>.json``.
The same runs a person starts from ``/lab`` (one at a time, through the frontend's API)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.chaos import RESULTS
from cli.lab import report_markdown as markdown
from harness.stack import RunningStack

log = logging.getLogger("picadaily.scenarios")
def run_all(api: httpx.Client, names: list[str]) -> list[dict[str, Any]]:
    reports = []
    for scenario in api.get("/api/lab/scenarios").json()["scenarios"]:
        if names and scenario["name"] not in names:
            continue
        log.info("running %s …", scenario["title"])
        resp = api.post(f"/api/lab/scenarios/{scenario['name']}")
        resp.raise_for_status()
        while (state := api.get("/api/lab/scenarios").json())["running"]:
            time.sleep(2)
        reports.append(state["latest"])
        log.info("%s\n", markdown(state["latest"]))
    return reports


def main(names: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="picadaily-scenarios-") as home:
        stack = RunningStack(Path(home) / "home", {"PICADAILY_LAB": "true"}).start()
        try:
            with stack.client(timeout=60) as api:
                reports = run_all(api, names or [])
        finally:
            stack.stop()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scenarios-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(reports, indent=2))
    log.info("saved %s", out)
    broken = [r["scenario"] for r in reports if r["state"] != "finished"
              or any(m["stuck"] or m["duplicates"] or m["orphans"] for m in r["results"])]
    if broken:
        log.error("scenarios that left something broken: %s", ", ".join(broken))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
