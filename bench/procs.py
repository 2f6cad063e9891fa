"""CPU time and memory of a process tree, read from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.proctree import descendants, stat_fields

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def process_name(pid: int) -> str:
    """``picadaily run vision`` -> vision; a server -> its program name."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return str(pid)
    if "run" in argv and argv.index("run") + 1 < len(argv):
        return argv[argv.index("run") + 1]
    if "moto.server" in argv:
        return "s3 (moto)"
    if Path(argv[0]).name == "weed":
        return "storage (seaweedfs)"
    # the server, and its backends by their titles ("postgres: user database host ...")
    if Path(argv[0]).name == "postgres" or argv[0].startswith("postgres:"):
        return "postgresql"
    if "up" in argv:
        return "stack runner"
    if any(Path(a).name == "patroni" for a in argv[:2]):
        return "patroni"
    if Path(argv[0]).name == "unshare":  # (a database node's namespace, around Patroni)
        return "patroni"
    return Path(argv[0]).name


def store_part(pid: int) -> str | None:
    """Which of SeaweedFS's four parts a ``weed`` process is, by the runner's name for it
    (``storage`` is the S3 gateway); None for any other process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return None
    if Path(argv[0]).name != "weed":
        return None
    command = next((a for a in argv[1:] if not a.startswith("-")), "")
    return {"master": "storage-master", "volume": "storage-volume", "filer": "storage-filer",
            "s3": "storage"}.get(command)


def cpu_by_process(root: int) -> dict[str, float]:
    """CPU seconds (user + system, with reaped children's) per process name."""
    return _by_process(root, lambda pid: _from_stat(
        pid, lambda fields: sum(int(x) for x in fields[11:15]) / TICKS))


def rss_by_process(root: int) -> dict[str, float]:
    """Resident memory in MB per process name."""
    return _by_process(root, lambda pid: _from_stat(
        pid, lambda fields: int(fields[21]) * PAGE / 2**20))


def pss_by_process(root: int) -> dict[str, float]:
    """Proportional memory in MB per process name: a page shared by n processes (the Python
    binary, the libraries) counts 1/n in each, so the sum is what the tree holds. RSS counts it
    in each."""
    return _by_process(root, _pss_mb)


def _from_stat(pid: int, read: Callable[[list[str]], float]) -> float | None:
    fields = stat_fields(pid)
    return read(fields) if fields else None


def _pss_mb(pid: int) -> float | None:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in rollup.splitlines()
                 if line.startswith("Pss:")), 0.0)


def _by_process(root: int, measure: Callable[[int], float | None]) -> dict[str, float]:
    """``measure(pid)`` summed per process name (a process gone meanwhile: None, left out)."""
    out: dict[str, float] = {}
    for pid in descendants(root):
        value = measure(pid)
        if value is not None:
            name = process_name(pid)
            out[name] = out.get(name, 0.0) + value
    return out


@dataclass(frozen=True)
class TreeUsage:
    cpu_s: float
    rss_mb: float


def usage(root: int) -> TreeUsage:
    """CPU seconds (user + system, of live processes) and resident memory of a tree."""
    cpu = 0.0
    rss = 0
    for pid in descendants(root):
        fields = stat_fields(pid)
        if not fields:
            continue
        # fields[11], [12]: utime, stime; [13], [14]: children's (reaped) utime, stime
        cpu += sum(int(x) for x in fields[11:15]) / TICKS
        rss += int(fields[21]) * PAGE
    return TreeUsage(cpu_s=cpu, rss_mb=rss / 1024 / 1024)
