"""Stopping and starting the stack keeps pictures, metadata and workflows (its own stack, so the
other end-to-end tests never see it restart). This stack runs two replicas of every consumer,
the worker and each service (behind one address each), with the metadata on PostgreSQL: both
modes give the same outcomes with competing consumers and workers, each step runs once."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from cli.ports import port_is_free
from harness.stack import RunningStack
from picadaily.steps import FINAL_STATUSES
from tests.conftest import photos
from tests.e2e.client import upload, wait_final

pytestmark = pytest.mark.e2e


def busy_ports(stack: RunningStack) -> list[str]:
    """Every port the stack's processes listened on, still taken after it stopped."""
    ports = {name: urlsplit(value if "://" in value else f"tcp://{value}").port
             for name, value in stack.env.items()
             if name.startswith("PICADAILY_") and name.endswith(("_URL", "_ENDPOINT", "_ADDRESS"))
             and name != "PICADAILY_DATABASE_URL"}  # (PostgreSQL is not the stack's)
    ports["PICADAILY_PORT"] = stack.port
    return [f"{name}:{port}" for name, port in ports.items()
            if port and not port_is_free("127.0.0.1", port)]


def test_two_replicas_of_everything_give_the_same_outcomes_and_run_each_step_once(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str,
) -> None:
    stack = RunningStack(tmp_path_factory.mktemp("restart") / "home", {
        "PICADAILY_REPLICAS": "2", "PICADAILY_DATABASE_URL": postgres_url}).start()
    try:
        with stack.client(timeout=30) as api:
            running = {p["name"] for p in api.get("/api/stack").json()["processes"]}
            assert {"vision", "vision-2", "metadata-2", "worker-2", "trigger-2"} <= running
            good = photos("good")[:6]
            outcomes = {}
            for mode in ("orchestration", "choreography"):
                accepted = upload(api, good, mode=mode).json()["accepted"]
                docs = wait_final(api, [a["id"] for a in accepted])
                for doc in docs.values():
                    oks = [e["step"] for e in doc["timeline"] if e["outcome"] == "ok"]
                    assert len(oks) == len(set(oks)), (mode, doc["id"], oks)  # once each
                outcomes[mode] = {a["name"]: (docs[a["id"]]["status"], docs[a["id"]]["labels"],
                                              docs[a["id"]]["thumbnail"]) for a in accepted}
            assert outcomes["orchestration"] == outcomes["choreography"]
            assert {o[0] for o in outcomes["choreography"].values()} == {"done"}

            # Stop and start: what was accepted survives (metadata on PostgreSQL)
            done = [a["id"] for a in upload(api, photos("good")[:3]).json()["accepted"]]
            wait_final(api, done)
            # these are still in flight when Ctrl-C comes
            assert upload(api, photos("good")[3:6]).status_code == 202
            before = api.get("/api/pictures", params={"limit": 100}).json()["pictures"]
            assert stack.stop() == 0
            with pytest.raises(httpx.ConnectError):
                api.get("/healthz")
            assert busy_ports(stack) == [], "a process outlived Ctrl-C"

            stack.start()
            after = api.get("/api/pictures", params={"limit": 100}).json()["pictures"]
            assert [p["id"] for p in after] == [p["id"] for p in before]
            # what was final stays as it was; what was in flight is finished after the restart
            final_before = {p["id"]: p["status"] for p in before
                            if p["status"] in FINAL_STATUSES}
            assert {p["id"]: p["status"] for p in after if p["id"] in final_before} == \
                final_before
            docs = wait_final(api, [p["id"] for p in after])
            assert {d["status"] for d in docs.values()} == {"done"}
            first = docs[done[0]]
            assert api.get(first["image_url"]).status_code == 200
            assert api.get(first["thumbnail_url"]).status_code == 200
            assert api.get("/api/collage").status_code == 200
    finally:
        if stack.proc and stack.proc.poll() is None:
            assert stack.stop() == 0
    assert "ready in" in stack.output.read_text()
