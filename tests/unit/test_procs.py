"""The bench's per-process readings of a process tree (/proc, Linux)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.procs import cpu_by_process, pss_by_process, rss_by_process


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(),
                    reason="reads /proc (Linux only)")
def test_each_reading_is_per_process_name_and_pss_never_exceeds_rss() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; print(1, flush=True); "
                              "time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline()  # started, now asleep
        cpu, rss, pss = (f(os.getpid()) for f in (cpu_by_process, rss_by_process,
                                                   pss_by_process))
        name = Path(sys.executable).name
        assert set(cpu) == set(rss) == set(pss) and name in rss
        assert cpu[name] > 0  # this test's own interpreter has worked
        # A shared page counts a share in PSS. Compared on the sleeping child alone: the two
        # readings are moments apart, and a busy process (a server another test started) can
        # grow in between.
        asleep_rss, asleep_pss = rss_by_process(child.pid), pss_by_process(child.pid)
        assert 0 < asleep_pss[name] <= asleep_rss[name]
    finally:
        child.kill()
        child.communicate()
