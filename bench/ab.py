"""``python -m bench.ab REV_A REV_B [PAIRS]`` (``make ab A=… B=…``): what a change did to the
stack's CPU per picture, measured so that the machine's drift cancels out.

One bench run is one sample: here the same code measured 0.119 and 0.124 s of CPU per
choreographed picture in two runs, 0.149 and 0.188 orchestrated (every process's share moved,
vision's fixed work included). So each revision is checked out in a worktree of its own and both
are measured in turns, A B B A A B …: per turn one fresh stack and one burst of 50 per mode,
after a warm-up. (A B A B … put B later in every pair: a machine slowing down through the run
counted against B every time; in A B B A order a steady drift cancels over two pairs, so give
an even number of pairs.) Prints each turn and the mean difference per mode and process; saves
``bench/results/ab-<time>.json``. Both revisions must have the bench's stack helpers
(``bench.common``, ``bench.stack_modes``, ``bench.procs``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.ab")
ROOT = Path(__file__).resolve().parent.parent
MODES = ("choreography", "orchestration")
WARM_UP = 10


def measure() -> None:
    """In a worktree (the current directory): one stack, one burst per mode; JSON on stdout."""
    import time

    sys.path.insert(0, os.getcwd())
    from bench.common import quiet_logging, temporary_stack
    from bench.procs import cpu_by_process, usage
    from bench.run import photo_sets
    from bench.stack_modes import FinalWatcher, _upload_concurrently

    quiet_logging()
    _, burst = photo_sets(False)
    out: dict[str, Any] = {}
    with temporary_stack({}, "ab") as stack, FinalWatcher(stack.url) as watcher:
        assert stack.proc is not None
        time.sleep(0.5)
        for mode in MODES:
            watcher.wait(_upload_concurrently(stack.url, burst[:WARM_UP], mode), lambda: None)
        for mode in MODES:
            total, parts = usage(stack.proc.pid).cpu_s, cpu_by_process(stack.proc.pid)
            ids = _upload_concurrently(stack.url, burst, mode)
            watcher.wait(ids, lambda: None)
            time.sleep(0.3)
            after = cpu_by_process(stack.proc.pid)
            out[mode] = {
                "cpu_ms_per_picture": 1000 * (usage(stack.proc.pid).cpu_s - total) / len(ids),
                "by_process": {name: 1000 * (cpu - parts.get(name, 0.0)) / len(ids)
                               for name, cpu in after.items()}}
    json.dump(out, sys.stdout)


def _worktree(rev: str) -> Path:
    # Beside this checkout: the bench finds the photos at ../shared from the repository.
    path = ROOT.parent / f".picadaily-ab-{os.getpid()}-{rev.replace('/', '_')}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(path), rev],
                   check=True, capture_output=True)
    return path


def _turn(tree: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure"],
                          cwd=tree, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def summary(turns: dict[str, list[dict[str, Any]]], a: str, b: str) -> dict[str, Any]:
    """Per mode: each revision's mean CPU per picture, B minus A, and the same per process."""
    out: dict[str, Any] = {}
    for mode in MODES:
        def mean(rev: str, pick: Any, mode: str = mode) -> float:
            return statistics.fmean(pick(t[mode]) for t in turns[rev])

        names = {n for rev in (a, b) for t in turns[rev] for n in t[mode]["by_process"]}
        by_process = {n: round(mean(b, lambda m, n=n: m["by_process"].get(n, 0.0)) -
                               mean(a, lambda m, n=n: m["by_process"].get(n, 0.0)), 1)
                      for n in sorted(names)}
        mean_a = mean(a, lambda m: m["cpu_ms_per_picture"])
        mean_b = mean(b, lambda m: m["cpu_ms_per_picture"])
        out[mode] = {"a_ms": round(mean_a, 1), "b_ms": round(mean_b, 1),
                     "b_minus_a_ms": round(mean_b - mean_a, 1),
                     "b_minus_a_pct": round(100 * (mean_b - mean_a) / mean_a, 1),
                     "pairs_b_minus_a_ms": [
                         round(tb[mode]["cpu_ms_per_picture"] - ta[mode]["cpu_ms_per_picture"], 1)
                         for ta, tb in zip(turns[a], turns[b], strict=True)],
                     "by_process_b_minus_a_ms": {n: d for n, d in by_process.items() if d}}
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--measure"]:
        measure()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(argv) < 2:
        log.error("usage: python -m bench.ab REV_A REV_B [PAIRS]")
        return 2
    a, b = argv[0], argv[1]
    pairs = int(argv[2]) if len(argv) > 2 else 4
    turns: dict[str, list[dict[str, Any]]] = {a: [], b: []}
    trees = {rev: _worktree(rev) for rev in (a, b)}
    try:
        for pair in range(pairs):
            for rev in ((a, b) if pair % 2 == 0 else (b, a)):
                turns[rev].append(_turn(trees[rev]))
                log.info("turn %d, %s: %s", pair + 1, rev, ", ".join(
                    f"{mode} {turns[rev][-1][mode]['cpu_ms_per_picture']:.1f} ms"
                    for mode in MODES))
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "-f", str(tree)],
                           capture_output=True)
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "a": a, "b": b,
        "pairs": pairs, "modes": summary(turns, a, b), "turns": turns}
    for mode, s in result["modes"].items():
        log.info("%s: %s %.1f -> %s %.1f ms CPU per picture (%+.1f ms, %+.1f %%; pairs %s)",
                 mode, a, s["a_ms"], b, s["b_ms"], s["b_minus_a_ms"], s["b_minus_a_pct"],
                 s["pairs_b_minus_a_ms"])
        log.info("  by process: %s", ", ".join(
            f"{n} {d:+.1f}" for n, d in sorted(s["by_process_b_minus_a_ms"].items(),
                                                key=lambda kv: kv[1]) if abs(d) >= 0.5))
    from bench.common import save_results

    log.info("saved %s", save_results("ab", result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
