"""A one-line progress bar on the terminal (stderr), silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.label = label
        self.started = time.monotonic()
        self.live = sys.stderr.isatty()
        self._draw()

    def __call__(self, step: int = 1) -> None:
        self.done += step
        self._draw()

    def _draw(self) -> None:
        if not self.live:
            return
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r{self.label:<28} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total}  {elapsed:5.1f} s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()
