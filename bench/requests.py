"""Requests per picture, per mode, counted from the pictures' own traces (what issue 14 asks to
cut: every S3 call, HTTP request, NATS message and Temporal task one picture costs).

``python -m bench.requests`` starts a stack with tracing on, sends the same photos through each
mode one at a time, and counts the spans of each picture's trace by kind: HTTP requests served
(per service and route), S3 calls (per operation), NATS publishes and deliveries (per event
type), Temporal workflow and activity tasks. Saves ``bench/results/requests-<time>.json``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from typing import Any

import httpx

from .common import quiet_logging, save_results, temporary_stack, upload
from .run import photo_sets
from .stack_modes import is_final, wait_status

log = logging.getLogger("bench.requests")
MODES = ("choreography", "orchestration")


def category(span: dict[str, Any]) -> str | None:
    """What one span counts as, or None (a client span mirrors a server span counted already;
    internal spans are work, not requests)."""
    name, kind, service = span["name"], span["kind"], span["service"].removeprefix("picadaily-")
    if name.startswith(("RunWorkflow:", "RunActivity:")):
        return None  # the worker's side of a task its StartWorkflow/StartActivity counted
    if name.startswith(("StartWorkflow:", "StartActivity:")):
        return f"Temporal {name.split(':')[0]}"
    if kind == "server":
        return f"HTTP {service}: {span['attributes'].get('http.route') or name}"
    if kind == "client" and name.startswith("S3."):
        return f"S3 {name.removeprefix('S3.')}"
    if kind == "producer":
        return f"NATS publish: {name.removeprefix('publish ')}"
    if kind == "consumer":
        return f"NATS delivery to {service}: {name}"
    return None


def count(traces_url: str, picture_ids: list[str]) -> dict[str, float]:
    """Mean count per picture of each category, over the pictures' newest traces."""
    totals: Counter[str] = Counter()
    with httpx.Client(base_url=traces_url, timeout=30) as traces:
        for picture_id in picture_ids:
            answer = traces.get(f"/pictures/{picture_id}/traces").json()
            for span in answer["traces"][-1]["spans"]:
                if (what := category(span)) is not None:
                    totals[what] += 1
    return {k: round(v / len(picture_ids), 2) for k, v in sorted(totals.items())}


async def server_tasks(address: str, picture_ids: list[str]) -> dict[str, float]:
    """Per picture, from its workflow's history: the tasks the Temporal server dispatched (to a
    worker) and the local activities it only recorded."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client

    from picadaily.ids import workflow_id_for

    client = await Client.connect(address)
    totals: Counter[str] = Counter()
    kinds = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: "Temporal server: workflow tasks",
             EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "Temporal server: activity tasks"}
    for picture_id in picture_ids:
        history = await client.get_workflow_handle(workflow_id_for(picture_id)).fetch_history()
        for event in history.events:
            if event.event_type in kinds:
                totals[kinds[event.event_type]] += 1
            elif event.HasField("marker_recorded_event_attributes") and \
                    event.marker_recorded_event_attributes.marker_name == "core_local_activity":
                totals["Temporal server: local activities recorded"] += 1
        totals["Temporal server: history events"] += len(history.events)
    return {k: round(v / len(picture_ids), 2) for k, v in sorted(totals.items())}


def summary(counts: dict[str, float]) -> dict[str, float]:
    groups: dict[str, float] = {}
    for what, n in counts.items():
        if what.startswith("Temporal server:"):
            continue  # (the same tasks, seen from the history: in the detail)
        group = " ".join(what.split(" ")[:2]).rstrip(":") if what.startswith("NATS") \
            else what.split(" ")[0]
        groups[group] = groups.get(group, 0.0) + n
    return {k: round(v, 2) for k, v in sorted(groups.items())}


def main(photos: int = 6) -> int:
    quiet_logging()
    latency, _ = photo_sets(quick=True)  # four shared photos and two phone-sized ones
    chosen = latency[:photos]
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "photos": [name for name, _ in chosen], "modes": {}}
    with temporary_stack({"PICADAILY_TRACING": "true"}, "requests") as stack, \
            stack.client(timeout=60) as api:
        for mode in MODES:
            ids = []
            for name, data in chosen:  # one at a time: each trace on its own
                ids.append(upload(api, name, data, mode))
                wait_status(api, ids[-1], is_final)
            time.sleep(3)  # the last spans are exported in batches
            counts = count(stack.settings().traces_url, ids)
            if mode == "orchestration":
                # A StartActivity span is there for a local activity too, which costs the
                # server no task: what the server dispatched comes from the histories.
                counts.update(asyncio.run(server_tasks(stack.settings().temporal_address,
                                                       ids)))
            results["modes"][mode] = {"by_kind": summary(counts), "detail": counts}
    path = save_results("requests", results)
    for mode, m in results["modes"].items():
        log.info("%s: %s", mode, ", ".join(f"{k} {v:g}" for k, v in m["by_kind"].items()))
        for what, n in m["detail"].items():
            log.info("    %-70s %5.2f", what, n)
    log.info("saved %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
