"""``release_free_memory`` gives the allocator's free pages back to the system (Linux, glibc);
``freeze_startup_objects`` keeps what start-up built out of full collections."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from picadaily.runtime import freeze_startup_objects, release_free_memory

ROLLUP = Path("/proc/self/smaps_rollup")


def _anonymous_mb() -> float:
    for line in ROLLUP.read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Anonymous line")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not ROLLUP.exists(),
                    reason="reads /proc/self/smaps_rollup (Linux only)")
def test_free_pages_left_behind_go_back_to_the_system() -> None:
    # 64 KB blocks (below the allocator's mmap threshold) with a 1 KB block kept after each:
    # once the large ones are freed the heap is full of holes the allocator keeps
    chunks, keep = [], []
    for _ in range(1500):
        chunks.append(bytearray(64 * 1024))
        keep.append(bytearray(1024))  # past pymalloc: in the same heap
    del chunks
    before = _anonymous_mb()
    release_free_memory()
    assert before - _anonymous_mb() > 50  # of the ~94 MB freed
    assert len(keep) == 1500


def test_what_start_up_built_is_no_longer_walked_by_full_collections() -> None:
    built = [[i] for i in range(10_000)]  # lists: the collector tracks them
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(built)
        later = [[i] for i in range(100)]
        assert gc.is_tracked(later[0])  # what comes after is collected as before
    finally:
        gc.unfreeze()
