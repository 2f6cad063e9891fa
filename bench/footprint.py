"""``python -m bench.footprint``: how long the local stack takes to start, and what it holds
while idle (per process: RSS, and PSS, which counts a page shared by several processes once in
all; CPU while nothing happens). Prints JSON."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import pss_by_process, rss_by_process, usage
from harness.stack import RunningStack

log = logging.getLogger("bench.footprint")
SETTLE_S = 10.0
IDLE_WINDOW_S = 20.0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        stack = RunningStack(Path(tmp) / "home").start()
        try:
            assert stack.proc is not None
            time.sleep(SETTLE_S)
            before = usage(stack.proc.pid)
            time.sleep(IDLE_WINDOW_S)
            after = usage(stack.proc.pid)
            pss = pss_by_process(stack.proc.pid)
            result = {
                "start_s": round(stack.start_seconds, 1),
                "idle_rss_mb": round(after.rss_mb),
                "idle_pss_mb": round(sum(pss.values())),
                "idle_cpu_percent": round(100 * (after.cpu_s - before.cpu_s) / IDLE_WINDOW_S, 1),
                "rss_mb_by_process": {name: round(mb, 1) for name, mb in sorted(
                    rss_by_process(stack.proc.pid).items(), key=lambda kv: -kv[1])},
                "pss_mb_by_process": {name: round(mb, 1) for name, mb in sorted(
                    pss.items(), key=lambda kv: -kv[1])},
            }
        finally:
            stack.stop()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
