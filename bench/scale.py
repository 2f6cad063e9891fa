"""``make scale``: the cost curve. Does a picture cost more when the library is large?

One stack; its library is filled to 10, 1,000 and 10,000 pictures (``BENCH_SCALE_SIZES``), and
at each size, in both modes, the bench's usual measurement runs (18 photos one at a time for the
p50, a burst of 50 for throughput and CPU per picture) plus: the gallery's first page and a
label search (p50 of 100 requests through the public API; the first page also straight from the
metadata, the part a library's size could slow), and the p50 durations of the two
steps that read or write the whole library — ``store_metadata`` (a metadata write) and
``update_collage`` (the collage asks the metadata for the newest four) — from the pictures'
timelines. Each figure is compared with the smallest library's: within 10 % is flat.

Then a long burst (``BENCH_LONG_BURST``, 500) per mode on the largest library: throughput in
the first and the last 100 completions (it must not decay).

The library is filled straight into the metadata's database (done pictures with labels, a
thumbnail record and a six-step timeline each, created before any measured picture): seeding
10,000 through the pipeline would take an hour and measure nothing new. Saves
``bench/results/scale-<time>.json`` and prints the table.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from harness.stack import RunningStack
from picadaily.contracts import Label, Picture, Safety, Thumbnail, TimelineEntry
from picadaily.ids import new_picture_id
from picadaily.internal_auth import internal_headers
from picadaily.layout import original_key
from picadaily.settings import Mode
from picadaily.steps import PIPELINE
from picadaily.storage import ObjectStore, S3ObjectStore
from services.metadata.repository import SqlitePictures

from .chart import draw_scale_chart
from .common import quiet_logging, reconciled, save_results, stack_jetstream, temporary_stack
from .run import percentile, photo_sets
from .stack_modes import FinalWatcher, ModeResult, _docs, _upload_concurrently, measure_mode

log = logging.getLogger("bench.scale")
MODES: tuple[Mode, Mode] = ("choreography", "orchestration")
LABELS = ("cat", "coffee", "rocket", "astronaut", "brick", "coin", "camera", "moon")
FLAT = 0.10  # within 10 % of the smallest library's figure
PAGES_SETTLE_S = 10.0
PAGE_REQUESTS = 100


def seed(db: Path, store: ObjectStore | None, bucket: str, count: int,
         before: dt.datetime) -> None:
    """``count`` more done pictures, older than ``before``, written 500 to a transaction, each
    with a (small) original in the bucket: the reconciler, which compares the two, must find a
    consistent library (a document without its original is a deletion whose event was lost)."""
    repo = SqlitePictures(db)
    original = _small_jpeg()
    try:
        for start in range(0, count, 500):
            ids = [new_picture_id() for _ in range(start, min(start + 500, count))]
            # the documents first: the originals' storage events then find them done
            with repo.transaction():
                for n, picture_id in enumerate(ids, start=start):
                    at = before - dt.timedelta(seconds=count - n)
                    _seed_one(repo, picture_id, n, at)
            if store is not None:
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda i: store.put(bucket, original_key(i), original,
                                                      "image/jpeg", {}), ids))
    finally:
        repo.close()


def _small_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(out, "JPEG")
    return out.getvalue()


def _seed_one(repo: SqlitePictures, picture_id: str, i: int, created: dt.datetime) -> None:
    mode = MODES[i % 2]
    repo.add(Picture(id=picture_id, object_key=original_key(picture_id),
                     original_name=f"seed-{i}.jpg", content_type="image/jpeg", size=200_000,
                     created=created, updated=created, mode=mode, status="processing"))
    for n, step in enumerate(PIPELINE):
        at = created + dt.timedelta(milliseconds=20 * n)
        repo.add_timeline(picture_id, TimelineEntry(
            step=step, started=at, ended=at + dt.timedelta(milliseconds=15), outcome="ok",
            mode=mode, version=1))
    repo.update(picture_id, labels=[Label(name=LABELS[i % len(LABELS)], score=0.9)],
                safety=Safety(judged=["adult"], likelihoods={"adult": "VERY_UNLIKELY"}),
                thumbnail=Thumbnail(width=400, height=300), collage_updated=True,
                status="done", finished=created + dt.timedelta(milliseconds=150),
                updated=created)


def wait_drained(stack: RunningStack, stream: str, durable: str, limit_s: float = 900) -> None:
    """Until the seeded originals' storage events are all handled (each one finds its document
    done and changes nothing): the measurement must not share the machine with them."""
    import asyncio

    async def backlog() -> tuple[int, int]:
        async with stack_jetstream(stack) as js:
            info = await js.consumer_info(stream, durable)
            stored = (await js.stream_info(stream)).state.messages
            return stored, info.num_pending + info.num_ack_pending

    deadline = time.monotonic() + limit_s
    last = (-1, -1)
    while time.monotonic() < deadline:
        now = asyncio.run(backlog())
        if now[1] == 0 and now[0] == last[0]:
            return
        last = now
        time.sleep(2)
    raise TimeoutError(f"storage events still pending after {limit_s:.0f} s: {last}")


def api_p50_ms(api: httpx.Client, path: str, times: int = 30) -> float:
    took = []
    for _ in range(times):
        t0 = time.perf_counter()
        api.get(path).raise_for_status()
        took.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(took), 1)


def step_p50_ms(docs: list[dict[str, Any]], step: str) -> float | None:
    took = [(dt.datetime.fromisoformat(e["ended"]) - dt.datetime.fromisoformat(e["started"]))
            .total_seconds() * 1000
            for d in docs for e in d["timeline"] if e["step"] == step and e["outcome"] == "ok"]
    return round(statistics.median(took), 1) if took else None


def measure_size(stack: RunningStack, latency_set: list[tuple[str, bytes]],
                 burst_set: list[tuple[str, bytes]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with stack.client(timeout=120) as api:
        for mode in MODES:
            result: ModeResult = measure_mode(stack, mode, latency_set, burst_set)
            # (step durations of the one-at-a-time pictures: in the burst they mostly queue)
            docs = list(_docs(api, result.latency_ids).values())
            out[mode] = {
                "p50_ms": round(percentile(result.latency_ms, 0.5) or 0, 1),
                "throughput_per_s": round(result.headline.throughput_per_s, 2),
                "cpu_s_per_picture": round(result.headline.cpu_s_per_picture, 4),
                "store_metadata_ms": step_p50_ms(docs, "store_metadata"),
                "update_collage_ms": step_p50_ms(docs, "update_collage"),
                "failures": result.failures + [f"the reconciler had to repair: {line}"
                                               for line in reconciled(stack)],
            }
        # (after the modes: every library then has more than a page of pictures; a pause first,
        # so the pages are not timed while the burst's last work drains, and 100 requests, not
        # 30. The frontend's share of a page still moves by a few ms with what the stack is
        # finishing, so the metadata's own answer, the part a library could slow, is timed too)
        time.sleep(PAGES_SETTLE_S)
        out["gallery_page_ms"] = api_p50_ms(api, "/api/pictures", times=PAGE_REQUESTS)
        out["label_search_ms"] = api_p50_ms(api, "/api/pictures?label=coffee",
                                            times=PAGE_REQUESTS)
        with httpx.Client(base_url=stack.settings().metadata_url, timeout=60,
                          headers=internal_headers(stack.internal_token)) as md:
            out["metadata_page_ms"] = api_p50_ms(md, "/pictures", times=PAGE_REQUESTS)
        # (a smaller library may fill less of a page: the time covers what it returns)
        out["page_items"] = len(api.get("/api/pictures").json()["pictures"])
        out["label_items"] = len(api.get("/api/pictures?label=coffee").json()["pictures"])
        out["stats_ms"] = api_p50_ms(api, "/api/stats", times=5)  # the compare page's figures
    return out


def long_burst(stack: RunningStack, photos: list[tuple[str, bytes]], size: int,
               mode: str) -> dict[str, Any]:
    """``size`` pictures at once: throughput of the first and the last 100 completions."""
    items = [photos[i % len(photos)] for i in range(size)]
    with FinalWatcher(stack.url) as watcher, stack.client(timeout=120) as api:
        time.sleep(0.5)
        ids = _upload_concurrently(stack.url, items, mode)
        watcher.wait(ids, lambda: None, timeout_s=1800)
        docs = list(_docs(api, ids).values())
    finished = sorted(dt.datetime.fromisoformat(d["finished"]) for d in docs)
    created = min(dt.datetime.fromisoformat(d["created"]) for d in docs)
    window = min(100, len(finished) // 3)

    def rate(first: dt.datetime, last: dt.datetime, n: int) -> float:
        return round(n / max((last - first).total_seconds(), 1e-3), 2)

    # Completion to completion: the first window starts at the first picture done (before it
    # the pipeline fills while the uploads are still being accepted).
    head = rate(finished[0], finished[window], window)
    tail = rate(finished[-window - 1], finished[-1], window)
    return {"pictures": size, "throughput_per_s": rate(created, finished[-1], len(docs)),
            f"first_{window}_per_s": head, f"last_{window}_per_s": tail,
            "last_vs_first": round(tail / head, 2) if head else None,
            "not_done": sum(d["status"] != "done" for d in docs),
            "reconciler_repairs": reconciled(stack)}


def flatness(by_size: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Each figure at each size as a ratio of the smallest library's."""
    sizes = sorted(by_size)
    base = by_size[sizes[0]]
    out: dict[str, Any] = {}
    for key in ("gallery_page_ms", "metadata_page_ms", "label_search_ms", "stats_ms"):
        out[key] = {n: round(by_size[n][key] / base[key], 2) for n in sizes}
    for mode in MODES:
        for key in ("p50_ms", "cpu_s_per_picture", "store_metadata_ms", "update_collage_ms"):
            if base[mode][key]:
                out[f"{mode} {key}"] = {n: round((by_size[n][mode][key] or 0) / base[mode][key],
                                                 2) for n in sizes}
    return out


def table(results: dict[str, Any]) -> list[str]:
    sizes = list(results["by_size"])
    lines = [f"{'library size':<46}" + "".join(f"{s:>10}" for s in sizes),
             "-" * (46 + 10 * len(sizes))]
    rows: list[tuple[str, tuple[str, ...]]] = [("gallery page p50 ms", ("gallery_page_ms",)),
                                               ("  pictures on it", ("page_items",)),
                                               ("  of which the metadata's answer",
                                                ("metadata_page_ms",)),
                                               ("label search p50 ms", ("label_search_ms",)),
                                               ("  pictures found", ("label_items",)),
                                               ("compare page stats ms", ("stats_ms",))]
    for mode in MODES:
        rows += [(f"{mode} p50 ms", (mode, "p50_ms")),
                 (f"{mode} pics/s (burst of 50)", (mode, "throughput_per_s")),
                 (f"{mode} CPU s/pic", (mode, "cpu_s_per_picture")),
                 (f"{mode} store_metadata p50 ms (1 at a time)", (mode, "store_metadata_ms")),
                 (f"{mode} update_collage p50 ms (1 at a time)", (mode, "update_collage_ms"))]
    for label, path in rows:
        values = []
        for s in sizes:
            value: Any = results["by_size"][s]
            for key in path:
                value = value[key]
            values.append(f"{value:>10}")
        lines.append(f"{label:<46}" + "".join(values))
    return lines


def main() -> int:
    quiet_logging()
    sizes = [int(s) for s in os.environ.get("BENCH_SCALE_SIZES", "10,1000,10000").split(",")]
    long_size = int(os.environ.get("BENCH_LONG_BURST", "500"))
    latency_set, burst_set = photo_sets(quick=False)
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "sizes": sizes, "by_size": {}, "long_burst": {}}
    with temporary_stack({}, "scale") as stack:
        db = stack.home / "metadata.sqlite3"
        settings = stack.settings()
        store = S3ObjectStore.from_settings(settings)
        seeded = 0
        for size in sizes:
            # (the measured pictures of the smaller sizes count as library too)
            seed(db, store, settings.pictures_bucket, max(size - seeded, 0),
                 dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            seeded = max(size, seeded)
            wait_drained(stack, settings.storage_stream, "trigger-storage")
            log.info("library of %d pictures seeded; measuring", size)
            results["by_size"][size] = measure_size(stack, latency_set, burst_set)
        for mode in MODES:
            log.info("long burst of %d, %s", long_size, mode)
            results["long_burst"][mode] = long_burst(stack, burst_set, long_size, mode)
    results["vs_smallest"] = flatness(results["by_size"])
    path = save_results("scale", results)
    draw_scale_chart(results, path.with_suffix(".png"))
    for line in table(results):
        log.info("%s", line)
    for key, ratios in results["vs_smallest"].items():
        log.info("%-40s %s", key, "  ".join(f"{n}: {r:.2f}x" for n, r in ratios.items()))
    for mode, burst in results["long_burst"].items():
        log.info("long burst %s: %s", mode, burst)
    log.info("saved %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
