"""Choreography and orchestration measured through the running local stack's public API."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import stack_jetstream, upload
from bench.procs import cpu_by_process, usage
from bench.progress import Progress
from harness.stack import RunningStack
from picadaily.settings import Settings
from picadaily.steps import FINAL_STATUSES


@dataclass
class Burst:
    """One burst of a mode: every picture uploaded at once."""

    size: int = 0
    burst_s: float = 0.0  # first created to last finished
    cpu_s: float = 0.0  # summed over every process of the stack, during the burst
    pictures_measured: int = 0
    peak_rss_mb: float = 0.0
    messages_per_picture: float | None = None
    workflow_events_per_picture: float | None = None
    cpu_ms_per_picture_by_process: dict[str, float] = field(default_factory=dict)
    # raw's CPU per picture measured around this burst (the passes before and after its round)
    raw_cpu_s_per_picture: float | None = None

    @property
    def cpu_s_per_picture(self) -> float:
        return self.cpu_s / max(self.pictures_measured, 1)

    @property
    def throughput_per_s(self) -> float:
        return self.pictures_measured / self.burst_s if self.burst_s else 0.0

    @property
    def cpu_vs_raw(self) -> float | None:
        """CPU per picture over raw's, measured around it (None: no raw pass around it)."""
        return self.cpu_s_per_picture / self.raw_cpu_s_per_picture \
            if self.raw_cpu_s_per_picture else None


@dataclass
class ModeResult:
    latency_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    latency_ids: list[str] = field(default_factory=list)  # the one-at-a-time pictures
    bursts: list[Burst] = field(default_factory=list)

    @property
    def headline(self) -> Burst:
        """The median burst (with an even number, the lower of the two middle ones), ranked by
        CPU per picture over raw's around it when every burst has raw measured around it, else
        by CPU per picture; an empty burst when there was none."""
        if not self.bursts:
            return Burst()
        paired = all(b.raw_cpu_s_per_picture for b in self.bursts)
        ranked = sorted(self.bursts, key=lambda b: (b.cpu_vs_raw or 0.0) if paired
                        else b.cpu_s_per_picture)
        return ranked[(len(ranked) - 1) // 2]

    @property
    def peak_rss_mb(self) -> float:
        """The highest of every burst."""
        return max((b.peak_rss_mb for b in self.bursts), default=0.0)


class MemorySampler:
    """The peak resident memory of the whole stack, sampled in the background."""

    def __init__(self, root: int, every_s: float = 0.2) -> None:
        self.root = root
        self.every = every_s
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, usage(self.root).rss_mb)


def _upload(api: httpx.Client, name: str, data: bytes, mode: str) -> tuple[str, float]:
    t0 = time.monotonic()
    return upload(api, name, data, mode), t0


class FinalWatcher:
    """Learns which pictures reached a final status from the live-updates stream (server-sent
    events): the bench does not poll, so it does not add load to the stack it measures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.final: set[str] = set()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> FinalWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _listen(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise

    def _read(self) -> None:
        import json

        with httpx.Client(base_url=self.url, timeout=None) as client, \
                client.stream("GET", "/api/events") as stream:
            for line in stream.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data: "):
                    change = json.loads(line[6:])
                    if change["status"] in FINAL_STATUSES:
                        with self._changed:
                            self.final.add(change["id"])
                            self._changed.notify_all()

    def wait(self, ids: list[str], on_done: Any, timeout_s: float = 600) -> None:
        pending = set(ids)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while pending and time.monotonic() < deadline:
                arrived = pending & self.final
                for _ in arrived:
                    on_done()
                pending -= arrived
                if pending:
                    self._changed.wait(min(1.0, max(deadline - time.monotonic(), 0)))
        if pending:
            raise TimeoutError(f"{len(pending)} pictures not final within {timeout_s} s")


def _docs(api: httpx.Client, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {i: api.get(f"/api/pictures/{i}").json() for i in ids}


def _span_s(docs: Any) -> float:
    """From the first upload accepted to the last picture done."""
    from datetime import datetime

    docs = list(docs)
    if not docs:
        return 0.001
    first = min(datetime.fromisoformat(d["created"]) for d in docs)
    last = max(datetime.fromisoformat(d["finished"]) for d in docs)
    return max((last - first).total_seconds(), 0.001)


def _e2e_ms(doc: dict[str, Any]) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(doc["finished"]) -
            datetime.fromisoformat(doc["created"])).total_seconds() * 1000


def measure_mode(stack: RunningStack, mode: str, latency_set: list[tuple[str, bytes]],
                 burst_set: list[tuple[str, bytes]]) -> ModeResult:
    """One at a time, then one burst."""
    result = measure_latency(stack, mode, latency_set)
    measure_burst(stack, mode, burst_set, result)
    return result


def measure_latency(stack: RunningStack, mode: str,
                    latency_set: list[tuple[str, bytes]]) -> ModeResult:
    """A warm-up (not measured), then one picture at a time: latency from "upload accepted"
    (created) to done."""
    result = ModeResult()
    with stack.client(timeout=120) as api, FinalWatcher(stack.url) as watcher:
        time.sleep(0.5)  # the live-updates stream is connected
        # Warm up (not measured): first connections, consumers, caches of this mode's path.
        for name, data in latency_set[:2]:
            watcher.wait([_upload(api, name, data, mode)[0]], lambda: None)
        progress = Progress(len(latency_set), f"{mode}: one at a time")
        for name, data in latency_set:
            picture_id, _ = _upload(api, name, data, mode)
            result.latency_ids.append(picture_id)
            watcher.wait([picture_id], lambda: None)
            doc = _docs(api, [picture_id])[picture_id]
            if doc["status"] != "done":
                result.failures.append(f"{name}: {doc['status']} {doc['error']}")
            else:
                result.latency_ms.append(_e2e_ms(doc))
            progress()
    return result


def measure_burst(stack: RunningStack, mode: str, burst_set: list[tuple[str, bytes]],
                  result: ModeResult, serving: Sequence[int] = ()) -> None:
    """Everything at once: throughput and CPU per picture, added to ``result.bursts``.
    ``serving``: the main processes of servers the stack uses but did not start (the bench's
    PostgreSQL): their trees' CPU counts too, as the embedded SQLite's counts in the metadata's."""
    assert stack.proc is not None
    roots = (stack.proc.pid, *serving)
    burst = Burst()
    with stack.client(timeout=120) as api, \
            MemorySampler(stack.proc.pid) as memory, FinalWatcher(stack.url) as watcher:
        time.sleep(0.5)  # the live-updates stream is connected
        messages_before = _stream_messages(stack)
        by_process_before = _cpu_by_process(roots)
        progress = Progress(len(burst_set), f"{mode}: burst of {len(burst_set)}")
        t0 = time.monotonic()
        ids = _upload_concurrently(stack.url, burst_set, mode)
        watcher.wait(ids, progress)
        wall_s = time.monotonic() - t0
        by_process = _cpu_by_process(roots)
        burst.cpu_s = sum(by_process.values()) - sum(by_process_before.values())
        burst.cpu_ms_per_picture_by_process = dict(sorted(
            ((name, round((cpu - by_process_before.get(name, 0.0)) * 1000 / len(ids), 1))
             for name, cpu in by_process.items()), key=lambda kv: -kv[1]))
        docs = _docs(api, ids)
        burst.burst_s = _span_s(docs.values())
        burst.size = len(ids)
        burst.pictures_measured = len(docs)
        result.failures += [f"{d['original_name']}: {d['status']} {d['error']}"
                            for d in docs.values() if d["status"] != "done"]
        burst.peak_rss_mb = memory.peak
        messages = _stream_messages(stack) - messages_before
        burst.messages_per_picture = round(messages / max(len(ids), 1), 2)
        if mode == "orchestration":
            burst.workflow_events_per_picture = asyncio.run(_history(stack, ids))
        if wall_s > burst.burst_s * 1.5:
            result.failures.append(f"burst wall time {wall_s:.1f} s vs {burst.burst_s:.1f} s")
    result.bursts.append(burst)


def _cpu_by_process(roots: Sequence[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for root in roots:
        for name, cpu in cpu_by_process(root).items():
            out[name] = out.get(name, 0.0) + cpu
    return out


def wait_status(api: httpx.Client, picture_id: str, done: Callable[[str | None], bool],
                timeout: float = 120) -> float:
    """Seconds until the picture's status satisfies ``done`` (polling the public API)."""
    start = time.monotonic()
    while not done(api.get(f"/api/pictures/{picture_id}").json().get("status")):
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{picture_id}: not there after {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


def is_final(status: str | None) -> bool:
    return status in FINAL_STATUSES


def _upload_concurrently(url: str, items: list[tuple[str, bytes]], mode: str) -> list[str]:
    async def send() -> list[str]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
            async def one(name: str, data: bytes) -> str:
                resp = await client.post("/api/pictures",
                                         files=[("pictures", (name, data, "image/jpeg"))],
                                         data={"mode": mode})
                resp.raise_for_status()
                picture_id: str = resp.json()["accepted"][0]["id"]
                return picture_id

            return list(await asyncio.gather(*(one(n, d) for n, d in items)))

    return asyncio.run(send())


def _stream_messages(stack: RunningStack) -> int:
    """Messages stored in the storage-event and domain-event streams (all of NATS's work here
    that is not a reply or a live-page notification)."""
    async def count() -> int:
        settings = Settings()  # (the stack's settings come from the same environment)
        async with stack_jetstream(stack) as js:
            total = 0
            for name in (settings.storage_stream, settings.events_stream):
                info = await js.stream_info(name)
                total += info.state.messages
            return total

    return asyncio.run(count())


async def _history(stack: RunningStack, ids: list[str]) -> float:
    from temporalio.client import Client

    from picadaily.ids import workflow_id_for

    client = await Client.connect(stack.settings().temporal_address)
    lengths = []
    for picture_id in ids:
        desc = await client.get_workflow_handle(workflow_id_for(picture_id)).describe()
        lengths.append(desc.raw_description.workflow_execution_info.history_length)
    return round(statistics.fmean(lengths), 1)
