"""Where each process of the stack spends its CPU during a burst (issue 14: measure first).

``python -m bench.profile`` (``make profile``) starts a stack, and for each mode samples every
Python process of it with py-spy (100 Hz, without pausing it) while a burst of 50 photos goes
through, then reports each process's top frames by own time (the leaf of the sampled stacks
of threads that are not idle: native work such as the ONNX models and Pillow's decoders
counts, and so does a thread-pool worker waiting on a condition; the event loop's own C code
shows as ``Runner.run``). Saves ``bench/results/profile-<time>.json``. Needs py-spy (PyPI) and the
right to trace the processes (root, or ptrace allowed).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.stack import RunningStack

from .chaos import children
from .common import quiet_logging, save_results, temporary_stack
from .run import photo_sets
from .stack_modes import FinalWatcher, _upload_concurrently, is_final, wait_status

log = logging.getLogger("bench.profile")
NOT_PYTHON = frozenset({"nats", "temporal", "storage", "storage-master", "storage-volume",
                        "storage-filer"})
TOP = 5


def top_frames(raw: str, top: int = TOP) -> dict[str, Any]:
    """py-spy's raw output (``frame;frame;… count`` per line): the leaf frames with the most
    samples, as shares of all samples of the process."""
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        own[stack.split(";")[-1].strip()] += int(count)
    return {"samples": total,
            "top": [{"frame": frame, "share": round(n / total, 3)}
                    for frame, n in own.most_common(top)] if total else []}


def profile_burst(stack: RunningStack, mode: str, burst: list[tuple[str, bytes]],
                  spy: str, out: Path) -> dict[str, Any]:
    assert stack.proc is not None
    targets = {name: pid for name, pid in children(stack.proc.pid).items()
               if name not in NOT_PYTHON}
    recorders = {name: subprocess.Popen(
        [spy, "record", "--nonblocking", "-r", "100", "-f", "raw", "-p", str(pid),
         "-o", str(out / f"{mode}-{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in targets.items()}
    time.sleep(1.0)  # every recorder attached
    # (waiting on the live-updates stream as the bench does: polling would be profiled too)
    with FinalWatcher(stack.url) as watcher:
        time.sleep(0.5)
        ids = _upload_concurrently(stack.url, burst, mode)
        watcher.wait(ids, lambda: None, timeout_s=300)
    for recorder in recorders.values():
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
    for recorder in recorders.values():
        recorder.wait(30)
    report = {}
    for name in targets:
        path = out / f"{mode}-{name}.txt"
        report[name] = top_frames(path.read_text()) if path.exists() else {"samples": 0}
    return report


def main() -> int:
    quiet_logging()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        log.error("py-spy is not installed: pip install py-spy")
        return 1
    _, burst = photo_sets(quick=False)
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "burst": len(burst), "modes": {}}
    # BENCH_PROFILE_KEEP=dir keeps py-spy's raw stacks there (for flame graphs, inclusive times).
    keep = os.environ.get("BENCH_PROFILE_KEEP")
    modes = os.environ.get("BENCH_PROFILE_MODES", "choreography,orchestration").split(",")
    with temporary_stack({}, "profile") as stack:
        out = Path(keep) if keep else stack.home.parent
        out.mkdir(parents=True, exist_ok=True)
        for mode in modes:
            _wait_final_warm_up(stack, mode, burst[:2])
            results["modes"][mode] = profile_burst(stack, mode, burst, spy, out)
    path = save_results("profile", results)
    for mode, processes in results["modes"].items():
        log.info("%s (burst of %d):", mode, len(burst))
        for name, report in sorted(processes.items(), key=lambda kv: -kv[1]["samples"]):
            frames = "; ".join(f"{100 * f['share']:.0f} % {f['frame']}"
                               for f in report.get("top", [])[:3])
            log.info("  %-11s %6d samples  %s", name, report["samples"], frames)
    log.info("saved %s", path)
    return 0


def _wait_final_warm_up(stack: RunningStack, mode: str, photos: list[tuple[str, bytes]]) -> None:
    """First connections and caches of this mode's path, not profiled."""
    ids = _upload_concurrently(stack.url, photos, mode)
    with stack.client(timeout=60) as api:
        for picture_id in ids:
            wait_status(api, picture_id, is_final)


if __name__ == "__main__":
    raise SystemExit(main())
