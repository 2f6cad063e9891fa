"""What every bench script does the same way: logging, a stack of its own in a temporary home,
one upload, and saving its results."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from harness.stack import RunningStack
from picadaily.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def quiet_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def temporary_stack(env: dict[str, str], prefix: str) -> Iterator[RunningStack]:
    """A freshly started stack whose whole home goes away with it."""
    with tempfile.TemporaryDirectory(prefix=f"picadaily-{prefix}-") as home:
        stack = RunningStack(Path(home) / "home", env).start()
        try:
            yield stack
        finally:
            stack.stop()


def upload(api: httpx.Client, name: str, data: bytes, mode: str) -> str:
    """One photo through the public API; its picture id."""
    resp = api.post("/api/pictures", files=[("pictures", (name, data, "image/jpeg"))],
                    data={"mode": mode})
    resp.raise_for_status()
    picture_id: str = resp.json()["accepted"][0]["id"]
    return picture_id


def save_results(prefix: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{prefix}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


@contextlib.asynccontextmanager
async def stack_jetstream(stack: RunningStack) -> AsyncIterator[Any]:
    """JetStream of the stack's NATS, for as long as the block runs."""
    from picadaily.nats_util import close_nats, connect_nats

    nc = await connect_nats(stack.settings(), "bench")  # (a cluster's servers: a list)
    try:
        yield nc.jetstream()
    finally:
        await close_nats(nc)


_SEEN: dict[Path, int] = {}


def reconciled(stack: RunningStack) -> list[str]:
    """The reconciler's repair lines logged since the last call (its log lives in the stack's
    temporary home, gone after the run)."""
    path = stack.home / "logs" / "reconciler.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    start, _SEEN[path] = _SEEN.get(path, 0), len(lines)
    repairs = [line.split("reconciled: ", 1)[1] for line in lines[start:]
               if "reconciled: " in line]
    replayed = [pid for line in repairs
                for pid in re.findall(r"'([0-9a-z]{26})'", line.split("failed", 1)[0])]
    if replayed:  # whose loss was it: did the upload's storage event reach NATS, and when?
        found = asyncio.run(_storage_events_naming(stack, replayed))
        repairs.append("storage events in NATS for the replayed uploads (who published each, "
                       "seconds from the object's creation to the event in NATS): " + ", ".join(
                           f"{pid} {delays}" for pid, delays in found.items()))
    return repairs


async def _storage_events_naming(stack: RunningStack,
                                 picture_ids: list[str]) -> dict[str, list[str]]:
    """For each picture, the messages of the storage-event stream that name it (its object key
    does): who published it (the reconciler's replay is one of them: its event time is the
    object's) and the seconds from the object's creation (the event's own time) to the message
    in NATS, e.g. ``["reconciler 20.8"]`` when the store's own event never came."""
    stream = Settings().storage_stream  # (the stack's settings come from the same environment)
    found: dict[str, list[str]] = {pid: [] for pid in picture_ids}
    async with stack_jetstream(stack) as js:
        info = await js.stream_info(stream)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            with contextlib.suppress(Exception):  # a gap in the sequence
                msg = await js.get_msg(stream, seq)
                data = msg.data or b""
                naming = [p for p in picture_ids if p.encode() in data]
                if not naming:
                    continue
                record = json.loads(data)["Records"][0]
                created = dt.datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
                stored = msg.time or created
                by = record.get("responseElements", {}).get("x-minio-deployment-id", "")
                for pid in naming:
                    found[pid].append(f"{by.removeprefix('picadaily-') or 'the store'} "
                                      f"{(stored - created).total_seconds():.1f}")
    return found
