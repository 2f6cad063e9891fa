"""The chaos run: a burst of uploads with deletions and mode flips mixed in, while every process
of the stack is killed -9 once at a random moment (the supervisor restarts it); then the
invariants that make PicaDaily trustworthy are checked and printed as a table, per mode.

``make chaos`` (``python -m bench.chaos``): 200 uploads per mode, every process, results in
``bench/results/chaos-<date>.json``. ``tests/e2e/test_chaos.py`` runs a short form inside
``make test`` (one kill per process class, ~30 uploads).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procs import process_name, store_part
from cli.stack import nats_process_of_server
from harness.proctree import descendants
from harness.stack import RunningStack, wait_until
from picadaily.drills import orphan_thumbnails, sample_jpeg
from picadaily.steps import FINAL_STATUSES

log = logging.getLogger("bench.chaos")
RESULTS = Path(__file__).resolve().parent / "results"
EVERY_PROCESS = ("storage", "nats", "temporal", "metadata", "vision", "thumbnails", "collage",
                 "exif", "worker", "trigger", "reconciler", "source", "frontend")
ONE_PER_CLASS = ("storage", "nats", "temporal", "vision", "worker", "trigger", "source",
                 "frontend")
# Short reconciliation, so that what only the reconciler can repair is repaired within the run.
CHAOS_ENV = {"PICADAILY_RECONCILE_AFTER_S": "8", "PICADAILY_RECONCILE_EVERY_S": "4",
             "PICADAILY_RECONCILE_FULL_EVERY_S": "4"}
SERVER_NAMES = {"nats-server": "nats"}
COLLAGE_WAIT_S = 90.0
# A disturbance of a run: when (seconds into the burst), its name, and what does it (returning
# the seconds the stack took to recover from it).
Disturbance = tuple[float, str, Callable[[], float]]


def children(runner_pid: int) -> dict[str, int]:
    """The stack's processes by component name (a NATS cluster's servers as the runner names
    them: nats, nats-2, nats-3)."""
    out = {}
    for pid in descendants(runner_pid)[1:]:
        name = store_part(pid) or process_name(pid)  # (the store: each of its four parts)
        if name == "nats-server":
            name = _nats_server(pid)
        out[SERVER_NAMES.get(name, name)] = pid
    return out


def _nats_server(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return "nats"
    return nats_process_of_server(argv[argv.index("-n") + 1] if "-n" in argv[:-1]
                                  else "picadaily")


# How long an upload waits for its answer: as a browser does (minutes), and past our own
# longest wait (the S3 client's 60 s of retries on a cluster, then 40 s for a call's answer;
# every refusal is then the stack's own answer, with its reason).
UPLOAD_WAIT_S = 120.0


def _reason(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))[:100]
    except ValueError:
        return resp.text[:100]


@dataclass
class ChaosResult:
    mode: str
    uploads: int
    accepted: int = 0
    refused: int = 0
    refusals: dict[str, int] = field(default_factory=dict)  # why: status and reason, or error
    deleted: int = 0
    done: int = 0
    failed: int = 0
    rejected: int = 0
    stuck: int = 0
    steps_run_twice: int = 0
    orphan_thumbnails: int = 0
    retried_attempts: int = 0
    dead_letters: int = 0
    unreadable_answers: int = 0  # pages that were not a document (a part down meanwhile)
    seconds_until_last_final: float = 0.0
    longest_wait_s: float = 0.0  # the longest from an upload's 202 to its final status
    longest_answer_s: float = 0.0  # the longest an accepted upload waited for its 202
    seconds_until_collage_current: float = 0.0  # after the deletions were done
    seconds_until_deletions_done: float = 0.0
    kills: dict[str, float] = field(default_factory=dict)  # victim -> seconds into the burst
    recovery_s: dict[str, float] = field(default_factory=dict)  # victim -> until restarted
    violations: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, stack: RunningStack, seed: int = 7) -> None:
        assert stack.proc is not None
        self.stack = stack
        self.random = random.Random(seed)
        self.settings = stack.settings()

    def run(self, mode: str, uploads: int, victims: tuple[str, ...], seconds: float,
            disturbances: tuple[Disturbance, ...] = (), flips: bool = True) -> ChaosResult:
        """Uploads spread over ``seconds`` with no mode of their own: they follow the switch,
        which starts at ``mode``, is flipped to the other mode half way, and back at 3/4
        (``flips``). Each victim is killed -9 at a random moment; each of ``disturbances``
        (at, what, action) is done at its moment (its action returns the seconds it took the
        stack to recover, which the result keeps under its name)."""
        result = ChaosResult(mode=mode, uploads=uploads)
        other = "choreography" if mode == "orchestration" else "orchestration"
        api = self.stack.client(timeout=30)
        self._put_mode(api, mode)
        kill_at: list[Disturbance] = sorted(
            (self.random.uniform(0.1, 0.9) * seconds, v, functools.partial(self._kill, v))
            for v in victims)
        kill_at = sorted([*kill_at, *disturbances], key=lambda d: d[0])
        flips_at = [(seconds / 2, other), (seconds * 3 / 4, mode)] if flips else []
        accepted: list[str] = []
        deleted: list[str] = []
        lock = threading.Lock()
        start = time.monotonic()

        def upload(n: int) -> None:
            time.sleep(max(0.0, start + n * seconds / uploads - time.monotonic()))
            why = ""
            try:
                with self.stack.client(timeout=UPLOAD_WAIT_S) as client:
                    picture = (f"c{n}.jpg", sample_jpeg(n), "image/jpeg")
                    sent = time.monotonic()
                    resp = client.post("/api/pictures", files=[("pictures", picture)])
                    answer_s = time.monotonic() - sent
                    ok = resp.status_code == 202
                    ids = [a["id"] for a in resp.json()["accepted"]] if ok else []
                    if not ok:
                        why = f"{resp.status_code}: {_reason(resp)}"
                    if ok and self.random.random() < 0.1:  # delete one in ten soon after
                        time.sleep(self.random.uniform(0, 1.0))
                        if client.delete(f"/api/pictures/{ids[0]}").status_code == 202:
                            with lock:
                                deleted.append(ids[0])
            except (httpx.HTTPError, ValueError) as exc:
                ok, ids, why = False, [], f"{type(exc).__name__}: {exc}"[:120]
            with lock:
                if ok:
                    accepted.extend(ids)
                    result.longest_answer_s = max(result.longest_answer_s, round(answer_s, 1))
                else:
                    result.refused += 1
                    result.refusals[why] = result.refusals.get(why, 0) + 1

        def disturb() -> None:
            events: list[tuple[float, str, Callable[[], float] | None]] = sorted(
                [*kill_at, *((t, m, None) for t, m in flips_at)], key=lambda e: e[0])
            for at, what, action in events:
                time.sleep(max(0.0, start + at - time.monotonic()))
                if action is None:
                    self._put_mode(api, what)
                else:
                    result.kills[what] = round(time.monotonic() - start, 1)
                    result.recovery_s[what] = action()

        disturber = threading.Thread(target=disturb)
        disturber.start()
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(upload, range(uploads)))
        disturber.join()
        self._settle(api, accepted, deleted, result, start)
        api.close()
        return result

    # --- disturbing -------------------------------------------------------------------------

    def _put_mode(self, api: httpx.Client, mode: str) -> None:
        for _ in range(50):  # the frontend or NATS may be restarting just now
            try:
                if api.put("/api/mode", json={"mode": mode}).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def _kill(self, victim: str) -> float:
        """kill -9; returns the seconds until the supervisor had it running again."""
        before = self.stack.processes().get(victim)
        if before is None:
            return -1.0
        t0 = time.monotonic()
        os.kill(before, signal.SIGKILL)
        try:
            wait_until(lambda: self.stack.processes().get(victim) not in (None, before),
                       timeout=90, what=f"{victim} restarted", tolerate=(httpx.HTTPError,))
        except TimeoutError:
            return -1.0
        return round(time.monotonic() - t0, 1)

    # --- checking ---------------------------------------------------------------------------

    def _settle(self, api: httpx.Client, accepted: list[str], deleted: list[str],
                result: ChaosResult, start: float) -> None:
        result.accepted, result.deleted = len(accepted), len(deleted)
        kept = [i for i in accepted if i not in set(deleted)]
        docs = self._wait_final(api, kept, result)
        result.seconds_until_last_final = round(time.monotonic() - start, 1)
        # A deletion whose event a killed consumer held is redone on redelivery (ack wait 60 s)
        # or by the reconciler: it converges later than the uploads; wait for it, bounded.
        self._wait_gone(api, deleted)
        result.seconds_until_deletions_done = round(time.monotonic() - start, 1)
        waits = [(dt.datetime.fromisoformat(d["finished"]) -
                  dt.datetime.fromisoformat(d["created"])).total_seconds()
                 for d in docs.values() if d.get("finished") and d.get("created")]
        result.longest_wait_s = round(max(waits, default=0.0), 1)
        statuses = Counter(d.get("status") for d in docs.values())
        result.done, result.failed = statuses["done"], statuses["failed"]
        result.rejected = statuses["rejected"]
        result.stuck = sum(1 for d in docs.values() if d.get("status") not in FINAL_STATUSES)
        # (each by name: an answer with no status is no document — say what it was)
        result.violations += [f"{pid} accepted and not final: {doc.get('status') or doc}"
                              for pid, doc in docs.items()
                              if doc.get("status") not in FINAL_STATUSES]
        self._check(api, docs, deleted, result)

    def _wait_final(self, api: httpx.Client, ids: list[str], result: ChaosResult,
                    timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        docs: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                docs = {i: self._document(api, i, result) for i in ids}
            except (httpx.HTTPError, ValueError):
                time.sleep(1)
                continue
            if all(d.get("status") in FINAL_STATUSES for d in docs.values()):
                break
            time.sleep(1)
        return docs

    @staticmethod
    def _document(api: httpx.Client, picture_id: str, result: ChaosResult) -> Any:
        """The picture's document; an answer that is not one (a part down meanwhile) is
        counted and logged with its status and body, and asked again."""
        resp = api.get(f"/api/pictures/{picture_id}")
        try:
            return resp.json()
        except ValueError:
            result.unreadable_answers += 1
            log.warning("GET /api/pictures/%s answered %d %s: %r", picture_id,
                        resp.status_code, resp.headers.get("content-type"), resp.text[:200])
            raise

    def _wait_gone(self, api: httpx.Client, ids: list[str], timeout: float = 150) -> None:
        """Until every deleted picture's document and thumbnail are gone (each service cleans
        up on its own: in choreography the thumbnails' consumer may come after the metadata's),
        or the deadline; what is left then is the check's violation to report."""
        deadline = time.monotonic() + timeout
        left = list(ids)
        while left and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                thumbs = self._thumbnail_ids()
                left = [i for i in left if i in thumbs or self._exists(api, i)]
            if left:
                time.sleep(1)

    def _check(self, api: httpx.Client, docs: dict[str, Any], deleted: list[str],
               result: ChaosResult) -> None:
        v = result.violations
        processing = api.get("/api/pictures", params={"status": "processing", "limit": 100})
        if processing.json()["pictures"]:
            v.append(f"{len(processing.json()['pictures'])} pictures still processing")
        for pid, doc in docs.items():
            if doc.get("status") == "done":
                if api.get(f"/api/pictures/{pid}/image").status_code != 200:
                    v.append(f"{pid} done but its image does not answer")
                if api.get(f"/api/pictures/{pid}/thumbnail").status_code != 200:
                    v.append(f"{pid} done but its thumbnail does not answer")
                if doc.get("labels") is None:
                    v.append(f"{pid} done without labels")
            if doc.get("status") == "rejected" and \
                    api.get(f"/api/pictures/{pid}/image").status_code != 403:
                v.append(f"{pid} rejected but its image is served")
            modes = {t.get("mode") for t in doc.get("timeline", [])} - {None}
            if len(modes) > 1 or (modes and doc.get("mode") not in modes):
                v.append(f"{pid} was processed in {sorted(modes)} (document: {doc.get('mode')})")
            ok_steps = Counter(t["step"] for t in doc.get("timeline", [])
                               if t["outcome"] == "ok")
            result.steps_run_twice += sum(1 for n in ok_steps.values() if n > 1)
            result.retried_attempts += sum(1 for t in doc.get("timeline", [])
                                           if t["attempt"] > 1)
        for pid in deleted:
            if api.get(f"/api/pictures/{pid}").status_code != 404:
                v.append(f"{pid} was deleted (202) but its document is still there")
        thumbs = self._thumbnail_ids()
        statuses = {i: d.get("status") for i, d in docs.items()}
        # (thumbnails of earlier runs' pictures: their pictures are asked about one by one)
        statuses.update({i: self._status(api, i) for i in thumbs - set(docs)})
        orphans = orphan_thumbnails(thumbs, statuses)
        result.orphan_thumbnails = len(orphans)
        if orphans & set(deleted):
            v.append(f"thumbnails of deleted pictures left: {sorted(orphans & set(deleted))}")
        # The collage is rebuilt after the pictures' last events, with their retries (a store
        # failing a write is tried again on redelivery): it converges, bounded by COLLAGE_WAIT_S.
        t0 = time.monotonic()
        while True:
            newest_done = [p["id"] for p in api.get("/api/pictures", params={
                "status": "done", "limit": 4}).json()["pictures"]]
            collage = api.get("/api/collage").headers.get("x-picadaily-collage-pictures", "")
            if collage.split(",") == newest_done or time.monotonic() - t0 > COLLAGE_WAIT_S:
                break
            time.sleep(1)
        result.seconds_until_collage_current = round(time.monotonic() - t0, 1)
        if collage.split(",") != newest_done:
            v.append(f"the collage holds {collage}, not the newest four done {newest_done}")
        letters = api.get("/api/dead-letters").json()["dead_letters"]
        result.dead_letters = len(letters)
        pairs = Counter((x["consumer"], x["picture_id"], x["subject"]) for x in letters)
        v += [f"dead letter {k} {n} times" for k, n in pairs.items() if n > 1]
        v += self._one_workflow_per_picture(docs)

    def _exists(self, api: httpx.Client, picture_id: str) -> bool:
        return self._status(api, picture_id) is not None

    def _status(self, api: httpx.Client, picture_id: str) -> str | None:
        resp = api.get(f"/api/pictures/{picture_id}")
        return str(resp.json()["status"]) if resp.status_code == 200 else None

    def _thumbnail_ids(self) -> set[str]:
        from picadaily.layout import thumbnail_ids
        from picadaily.storage import S3ObjectStore

        return thumbnail_ids(S3ObjectStore.from_settings(self.settings), self.settings)

    def _one_workflow_per_picture(self, docs: dict[str, Any]) -> list[str]:
        import asyncio

        from temporalio.client import Client

        async def runs() -> Counter[str]:
            client = await Client.connect(self.settings.temporal_address)
            counts: Counter[str] = Counter()
            async for wf in client.list_workflows("WorkflowType = 'ProcessPicture'"):
                counts[wf.id] += 1
            return counts

        counts = asyncio.run(runs())
        out = [f"{wid} ran {n} times" for wid, n in counts.items() if n > 1]
        for pid, doc in docs.items():
            if doc.get("mode") == "orchestration" and counts.get(f"picture-{pid}", 0) != 1:
                out.append(f"{pid} (orchestration) has {counts.get(f'picture-{pid}', 0)} runs")
        return out


def table(results: list[ChaosResult]) -> str:
    rows = ["accepted", "refused", "deleted", "done", "failed", "rejected", "stuck",
            "steps_run_twice", "orphan_thumbnails", "retried_attempts", "dead_letters",
            "seconds_until_last_final", "longest_wait_s", "seconds_until_deletions_done"]
    lines = ["| | " + " | ".join(r.mode for r in results) + " |",
             "|---|" + "---|" * len(results)]
    lines += [f"| {row.replace('_', ' ')} | " + " | ".join(str(getattr(r, row)) for r in results)
              + " |" for row in rows]
    lines.append("| recovery s (killed at s) | " + " | ".join(
        ", ".join(f"{k} {r.recovery_s[k]} ({r.kills[k]})" for k in r.kills) for r in results)
        + " |")
    lines.append("| invariants broken | " + " | ".join(
        str(len(r.violations)) for r in results) + " |")
    return "\n".join(lines)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory(prefix="picadaily-chaos-") as home:
        stack = RunningStack(Path(home) / "home", CHAOS_ENV).start()
        try:
            chaos = Chaos(stack)
            for mode in ("choreography", "orchestration"):
                results.append(chaos.run(mode, uploads=200, victims=EVERY_PROCESS, seconds=40))
                log.info("%s: %s", mode, asdict(results[-1]))
        finally:
            stack.stop()
    text = table(results)
    log.info("\n%s", text)
    for r in results:
        for violation in r.violations:
            log.error("%s: %s", r.mode, violation)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"chaos-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    log.info("saved %s", out)
    return 1 if any(r.violations or r.stuck for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
