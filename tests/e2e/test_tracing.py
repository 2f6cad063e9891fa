"""One trace per picture through the running stack, in each mode: OTLP from every process to the
trace store, read back through the picture's waterfall."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.stack import RunningStack, wait_until
from picadaily.drills import sample_jpeg
from picadaily.internal_auth import internal_headers
from tests.e2e.client import wait_final

pytestmark = pytest.mark.e2e
SERVICES = {"frontend", "source", "trigger", "vision", "metadata", "thumbnails", "collage"}


def traced_upload(api: httpx.Client, mode: str, n: int) -> dict[str, Any]:
    resp = api.post("/api/pictures", data={"mode": mode},
                    files=[("pictures", (f"t{n}.jpg", sample_jpeg(n), "image/jpeg"))])
    [accepted] = resp.json()["accepted"]
    picture_id = accepted["id"]
    assert wait_final(api, [picture_id])[picture_id]["status"] == "done"
    trace: dict[str, Any] = {}

    def complete() -> bool:  # spans arrive in batches, the last ones a moment after "done"
        nonlocal trace
        resp = api.get(f"/api/pictures/{picture_id}/trace")
        if resp.status_code != 200:
            return False
        trace = resp.json()
        names = [s["name"] for t in trace["traces"] for s in t["spans"]]
        return any("update_collage" in name for name in names) and \
            {p for t in trace["traces"] for p in t["processes"]} >= SERVICES and \
            all(t["roots"] == 1 for t in trace["traces"])

    try:
        wait_until(complete, timeout=30, what=f"the whole trace of {picture_id}")
    except AssertionError as exc:
        roots = [(s["process"], s["name"], s["parent_id"]) for t in trace.get("traces", [])
                 for s in t["spans"] if s["depth"] == 0]
        raise AssertionError(f"{exc}; the trace's roots: {roots}") from exc
    return trace


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_one_trace_covers_upload_storage_hop_and_every_step(api: httpx.Client, mode: str) -> None:
    trace = traced_upload(api, mode, 40 if mode == "orchestration" else 41)
    [only] = trace["traces"]  # one trace id for the whole picture
    spans = only["spans"]
    # parent links unbroken across the storage hop and every NATS hop
    assert only["roots"] == 1, [(s["process"], s["name"]) for s in spans if s["depth"] == 0]
    assert spans[0]["name"] == "accept picture" and spans[0]["process"] == "frontend"
    processes = set(only["processes"])
    assert processes >= SERVICES, processes
    if mode == "orchestration":
        assert "worker" in processes
        assert any(s["name"] == "RunWorkflow:ProcessPicture" for s in spans)
    else:
        assert "worker" not in processes
        assert "analyse_image on picadaily.picture.uploaded" in {s["name"] for s in spans}
    storage = next(s for s in spans if s["name"] == "storage event s3:ObjectCreated:Put")
    assert storage["process"] == "source" and storage["depth"] >= 1
    assert only["in_work_ms"] > 0 and only["total_ms"] >= only["in_work_ms"]


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_a_retried_step_shows_each_attempt_as_its_own_span(
        api: httpx.Client, stack: RunningStack, mode: str) -> None:
    vision = stack.settings().vision_url
    inside = internal_headers(stack.internal_token)
    armed = httpx.post(f"{vision}/admin/faults", json={"step": "analyse_image", "times": 1},
                       headers=inside)
    assert armed.status_code == 204, armed.text
    try:
        trace = traced_upload(api, mode, 42 if mode == "orchestration" else 43)
    finally:
        httpx.delete(f"{vision}/admin/faults", headers=inside)
    [only] = trace["traces"]
    attempt = "RunActivity:analyse_image" if mode == "orchestration" \
        else "analyse_image on picadaily.picture.uploaded"
    attempts = [s for s in only["spans"] if s["name"] == attempt]
    assert len(attempts) == 2, [s["name"] for s in only["spans"]]
    assert attempts[0]["error"] and not attempts[1]["error"]
