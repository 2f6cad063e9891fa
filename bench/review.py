"""How long a person's decision takes to become a final status, per mode (moderation).

``python -m bench.review`` starts a stack whose local safety model calls every photo borderline
(review band [0, 0.85)), sends the same photos through each mode, waits until each waits for
review, approves or rejects it through the API, and measures: upload -> awaiting_review, and
decision -> final (done after the thumbnail and collage; rejected at once). Saves
``bench/results/review-<time>.json``.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
from typing import Any

import httpx

from picadaily.steps import Status

from .common import quiet_logging, save_results, temporary_stack, upload
from .run import photo_sets
from .stack_modes import is_final, wait_status

log = logging.getLogger("bench.review")
MODES = ("choreography", "orchestration")


def measure(api: httpx.Client, mode: str, photos: list[tuple[str, bytes]]) -> dict[str, Any]:
    to_wait: list[float] = []
    to_done: list[float] = []
    to_rejected: list[float] = []
    for n, (name, data) in enumerate(photos):
        picture_id = upload(api, name, data, mode)
        to_wait.append(wait_status(api, picture_id, lambda s: s == Status.AWAITING_REVIEW))
        decision = "approve" if n % 2 == 0 else "reject"
        started = time.monotonic()
        answer = api.post(f"/api/pictures/{picture_id}/review", json={"decision": decision})
        answered = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        final = answered + wait_status(api, picture_id, is_final)
        (to_done if decision == "approve" else to_rejected).append(final)

    def ms(values: list[float]) -> float | None:
        return round(1000 * statistics.median(values), 1) if values else None

    return {"upload_to_awaiting_review_ms": ms(to_wait), "approve_to_done_ms": ms(to_done),
            "reject_to_rejected_ms": ms(to_rejected), "pictures": len(photos)}


def main() -> int:
    quiet_logging()
    latency, _ = photo_sets(quick=True)
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "photos": [n for n, _ in latency], "modes": {}}
    with temporary_stack({"PICADAILY_SAFETY_REVIEW_BAND": "[0.0, 0.85]"}, "review") as stack, \
            stack.client(timeout=60) as api:
        for mode in MODES:
            results["modes"][mode] = measure(api, mode, latency)
    path = save_results("review", results)
    for mode, m in results["modes"].items():
        log.info("%s: upload -> awaiting_review %s ms, approve -> done %s ms, reject -> "
                 "rejected %s ms (median of %d)", mode, m["upload_to_awaiting_review_ms"],
                 m["approve_to_done_ms"], m["reject_to_rejected_ms"], m["pictures"])
    log.info("saved %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
