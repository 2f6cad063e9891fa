"""The failure lab's canned scenarios: one disturbance during a burst of uploads, run in both
modes one after the other, and a table side by side of what each style did.

A scenario drives the stack from outside, as a person would: uploads through the public API,
the disturbance through the stack runner's control endpoint (stop, start, kill -9) or the
services' fault injection, and a watcher that reads every picture's status once a second (what a
user saw meanwhile). Then it waits for every picture to be final and counts. A report lives in
memory while it runs and is written to ``<home>/lab/`` when it ends; a frontend killed mid-run
loses only the run in progress (the page then says no run is going on).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx

from picadaily import choreography
from picadaily.contracts import utcnow
from picadaily.control_api import PROCESSES, Action, ProcessState, action_path
from picadaily.drills import orphan_thumbnails, sample_jpeg
from picadaily.event_data import DATA_MODELS
from picadaily.events import subject
from picadaily.internal_auth import internal_headers
from picadaily.layout import thumbnail_ids
from picadaily.settings import MODES, Settings
from picadaily.steps import FINAL_STATUSES
from picadaily.storage_events import subject_for

log = logging.getLogger(__name__)
SETTLE_S = 240.0  # how long a scenario waits for its pictures to be final before counting
RESTART_WAIT_S = 90.0


def _processes(body: Any) -> list[ProcessState]:
    return [ProcessState.model_validate(p) for p in body]


class Lab:
    """The actions a scenario takes: the same ones the lab page offers."""

    def __init__(self, settings: Settings, nats: Any, client: httpx.AsyncClient) -> None:
        self.settings, self.nats, self.client = settings, nats, client

    async def process(self, name: str, action: Action) -> None:
        resp = await self.client.post(self.settings.lab_control_url + action_path(name, action))
        resp.raise_for_status()

    async def wait_running(self, name: str) -> None:
        deadline = time.monotonic() + RESTART_WAIT_S
        while time.monotonic() < deadline:
            resp = await self.client.get(self.settings.lab_control_url + PROCESSES)
            if any(p.name == name and p.state == "running" for p in _processes(resp.json())):
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{name} was not running again within {RESTART_WAIT_S:.0f} s")

    async def fault(self, service: str, plan: dict[str, Any]) -> None:
        url = getattr(self.settings, f"{service}_url")
        (await self.client.post(f"{url}/admin/faults", json=plan)).raise_for_status()

    async def clear_faults(self, service: str) -> None:
        url = getattr(self.settings, f"{service}_url")
        await self.client.delete(f"{url}/admin/faults")

    async def poison_every_subject(self) -> int:
        """One message of each broken kind on every subject a consumer reads (every reaction
        ``picadaily.choreography`` declares, and the trigger's storage events): not JSON, not
        an object, not one of our events, and one of ours whose data its model refuses."""
        types = sorted({t for r in choreography.REACTIONS for t in r.types})
        subjects = [subject(self.settings, t) for t in types] + \
            [subject_for(self.settings.pictures_bucket)]
        run = time.time()
        sent = 0
        for type_, subj in zip([*types, "storage"], subjects, strict=True):
            for body in (b"not json", b"[]",
                         json.dumps({"specversion": "1.0", "type": "x"}).encode(),
                         _refused_by_its_model(self.settings, type_)):
                await self.nats.publish(subj, body,
                                        headers={"Nats-Msg-Id": f"poison-{run}-{sent}"})
                sent += 1
        await self.nats.flush()
        return sent


def _refused_by_its_model(settings: Settings, type_: str) -> bytes:
    """A CloudEvent of the subject's own type whose every data field is of the wrong type."""
    model = DATA_MODELS.get(type_)
    fields = {name: {"not": "valid"} for name in (model.model_fields if model else ())}
    return json.dumps({"specversion": "1.0", "id": "poison", "source": "picadaily/lab",
                       "type": f"{settings.event_prefix}.{type_}", "subject": "poison",
                       "data": {"picture_id": "poison", "mode": "choreography", **fields}}
                      ).encode()


Disturb = Callable[[Lab, float], Coroutine[Any, Any, str]]  # (lab, outage seconds) -> what was done


async def _stop_for(name: str, lab: Lab, seconds: float) -> str:
    await lab.process(name, "stop")
    try:
        await asyncio.sleep(seconds)
    finally:
        await lab.process(name, "start")
    await lab.wait_running(name)
    return f"{name} stopped for {seconds:.0f} s"


async def thumbnails_down(lab: Lab, seconds: float) -> str:
    return await _stop_for("thumbnails", lab, seconds)


async def nats_down(lab: Lab, seconds: float) -> str:
    return await _stop_for("nats", lab, seconds)


async def vision_crashes(lab: Lab, seconds: float) -> str:
    await asyncio.sleep(seconds / 2)
    await lab.process("vision", "kill")
    await lab.wait_running("vision")
    return "vision killed -9 mid-burst"


async def poison(lab: Lab, seconds: float) -> str:
    return f"{await lab.poison_every_subject()} poison messages published"


async def flaky_thumbnails(lab: Lab, seconds: float) -> str:
    await lab.fault("thumbnails", {"step": "make_thumbnail", "probability": 0.5, "times": -1})
    try:
        await asyncio.sleep(seconds)
    finally:
        await lab.clear_faults("thumbnails")
    return f"make_thumbnail failed half its calls for {seconds:.0f} s"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    uploads: int
    outage_s: float
    disturb: Disturb


SCENARIOS = {s.name: s for s in (
    Scenario("thumbnails-down", "thumbnails down 20 s during 30 uploads", 30, 20,
             thumbnails_down),
    Scenario("nats-down", "NATS down 10 s during 30 uploads", 30, 10, nats_down),
    Scenario("vision-crash", "vision killed -9 mid-burst of 30 uploads", 30, 6, vision_crashes),
    Scenario("poison", "a poison message of three kinds on every subject, during 10 uploads",
             10, 0, poison),
    Scenario("flaky-thumbnails", "make_thumbnail fails 50 % of calls for 15 s, 20 uploads", 20,
             15, flaky_thumbnails),
)}


@dataclass
class ModeResult:
    mode: str
    done_what: str = ""
    accepted: int = 0
    refused: int = 0  # uploads that did not get a 202
    statuses: dict[str, int] = field(default_factory=dict)
    stuck: int = 0
    duplicates: int = 0  # a step with more than one ``ok`` entry for one picture
    orphans: int = 0  # thumbnail objects of pictures that are not done
    last_final_s: float | None = None
    longest_processing_s: float | None = None  # the longest a picture showed 'processing'
    retries: int = 0  # timeline entries of attempts after the first
    dead_letters: int = 0
    saw: list[dict[str, Any]] = field(default_factory=list)  # once a second: status counts
    seen: str = ""


@dataclass
class Report:
    scenario: str
    title: str
    started: str
    state: str = "running"  # running | finished | failed
    progress: str = ""
    error: str | None = None
    results: list[ModeResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ScenarioRunner:
    """Runs one scenario at a time in the frontend's event loop."""

    scenarios = SCENARIOS

    def __init__(self, settings: Settings, nats: Any, js: Any, metadata: httpx.AsyncClient,
                 store: Any) -> None:
        self.settings, self.nats, self.js = settings, nats, js
        self.metadata, self.store = metadata, store
        self.latest: Report | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def start(self, name: str, uploads: int | None = None,
              outage_s: float | None = None) -> Report:
        base = SCENARIOS[name]
        title = base.title
        if uploads is not None or outage_s is not None:
            title += f" (shortened: {uploads or base.uploads} uploads, " \
                     f"{base.outage_s if outage_s is None else outage_s:.0f} s)"
        scenario = Scenario(base.name, title, uploads or base.uploads,
                            base.outage_s if outage_s is None else outage_s, base.disturb)
        self.latest = Report(scenario.name, scenario.title, utcnow().isoformat())
        self._task = asyncio.create_task(self._run(scenario, self.latest))
        return self.latest

    async def _run(self, scenario: Scenario, report: Report) -> None:
        try:
            async with httpx.AsyncClient(
                    timeout=30, headers=internal_headers(self.settings.internal_token)) as client:
                lab = Lab(self.settings, self.nats, client)
                for mode in MODES:
                    report.progress = f"{mode}: {scenario.title}"
                    report.results.append(await self._one_mode(scenario, mode, lab))
            report.state = "finished"
        except Exception as exc:
            log.exception("lab scenario %s failed", scenario.name)
            report.state, report.error = "failed", f"{type(exc).__name__}: {exc}"
        report.progress = ""
        self._save(report)

    def _save(self, report: Report) -> None:
        folder = self.settings.home / "lab"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = report.started.replace(":", "").split(".")[0]
        (folder / f"{report.scenario}-{stamp}.json").write_text(
            json.dumps(report.as_dict(), indent=2))

    async def _dead_letter_count(self) -> int:
        info = await self.js.stream_info(self.settings.dead_letter_stream)
        return int(info.state.messages)

    async def _one_mode(self, scenario: Scenario, mode: str, lab: Lab) -> ModeResult:
        result = ModeResult(mode)
        dead_before = await self._dead_letter_count()
        ids: list[str] = []
        started, wall_start = time.monotonic(), time.time()
        base = f"http://{self.settings.host}:{self.settings.port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            disturbance = asyncio.create_task(scenario.disturb(lab, scenario.outage_s))
            watcher = asyncio.create_task(self._watch(ids, result, started))
            # The burst spreads over the outage, so uploads meet every phase of it.
            pause = max(0.1, scenario.outage_s / scenario.uploads)
            await asyncio.sleep(0.5)
            for n in range(scenario.uploads):
                try:
                    resp = await api.post("/api/pictures", data={"mode": mode}, files=[
                        ("pictures", (f"lab-{n}.jpg", sample_jpeg(n), "image/jpeg"))])
                    if resp.status_code == 202:
                        ids += [a["id"] for a in resp.json()["accepted"]]
                    else:
                        result.refused += 1
                except httpx.HTTPError:
                    result.refused += 1
                await asyncio.sleep(pause)
            result.done_what = await disturbance
            docs = await self._settle(ids, started + SETTLE_S)
            watcher.cancel()
        finals = [d["finished"] for d in docs.values() if d.get("finished")]
        if finals:
            last = max(datetime.fromisoformat(f).timestamp() for f in finals)
            result.last_final_s = round(last - wall_start, 1)
            result.longest_processing_s = round(max(
                (datetime.fromisoformat(d["finished"]) - datetime.fromisoformat(d["created"]))
                .total_seconds() for d in docs.values() if d.get("finished")), 1)
        result.accepted = len(ids)
        result.statuses = dict(Counter(d.get("status", "missing") for d in docs.values()))
        result.stuck = result.statuses.get("processing", 0)
        for doc in docs.values():
            oks = Counter(e["step"] for e in doc.get("timeline", []) if e["outcome"] == "ok")
            result.duplicates += sum(1 for n in oks.values() if n > 1)
            result.retries += sum(1 for e in doc.get("timeline", []) if e["attempt"] > 1)
        thumbs = await asyncio.to_thread(thumbnail_ids, self.store, self.settings)
        result.orphans = len(orphan_thumbnails(
            thumbs & set(docs), {i: d.get("status") for i, d in docs.items()}))
        result.dead_letters = await self._dead_letter_count() - dead_before
        result.seen = _what_a_user_saw(result)
        return result

    async def _statuses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        async def one(i: str) -> tuple[str, dict[str, Any]]:
            try:
                resp = await self.metadata.get(f"/pictures/{i}")
                return i, resp.json() if resp.status_code == 200 else {"status": "unreadable"}
            except httpx.HTTPError:
                return i, {"status": "unreadable"}

        return dict(await asyncio.gather(*(one(i) for i in ids)))

    async def _watch(self, ids: list[str], result: ModeResult, started: float) -> None:
        while True:
            docs = await self._statuses(list(ids))
            counts = Counter(str(d.get("status")) for d in docs.values())
            result.saw.append({"t": round(time.monotonic() - started, 1), **counts})
            await asyncio.sleep(1)

    async def _settle(self, ids: list[str], deadline: float) -> dict[str, dict[str, Any]]:
        while True:
            docs = await self._statuses(ids)
            if all(d.get("status") in FINAL_STATUSES for d in docs.values()) \
                    or time.monotonic() > deadline:
                return docs
            await asyncio.sleep(0.5)


def _what_a_user_saw(result: ModeResult) -> str:
    """One sentence from the once-a-second snapshots."""
    most = max((s.get("processing", 0) for s in result.saw), default=0)
    unreadable = max((s.get("unreadable", 0) for s in result.saw), default=0)
    failed = max((s.get("failed", 0) for s in result.saw), default=0)
    parts = [f"{result.accepted} of {result.accepted + result.refused} uploads accepted",
             f"up to {most} pictures 'processing' at once"]
    if result.longest_processing_s is not None:
        parts.append(f"the longest wait for a final status {result.longest_processing_s} s")
    if failed:
        parts.append(f"{failed} shown 'failed'")
    if unreadable:
        parts.append(f"up to {unreadable} pictures unreadable (the metadata did not answer)")
    return "; ".join(parts)
