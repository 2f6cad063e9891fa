"""CPU cost of analysing one 12 MP JPEG with the offline backend: decode, labels, colours, safety.

    .venv/bin/python -m bench.vision_cost [photo ...]
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path

from bench.photos import phone_sized
from picadaily.imaging import decode
from services.vision.colours import dominant_colours
from services.vision.core import ANALYSIS_SIDE
from services.vision.labels import OnnxLabeller
from services.vision.safety import OpenNsfwJudge

log = logging.getLogger("bench.vision_cost")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "photos" / "good"
ROUNDS = 10


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sources = [Path(a) for a in argv] or [SHARED / "coffee.png", SHARED / "chelsea.png",
                                          SHARED / "rocket.jpg"]
    labeller, judge = OnnxLabeller(), OpenNsfwJudge()
    parts: dict[str, list[float]] = {"decode": [], "labels": [], "colours": [], "safety": []}
    for source in sources:
        data = phone_sized(source)
        for _ in range(ROUNDS):
            t = time.process_time()
            image = decode(data, max_pixels=60_000_000, fit=ANALYSIS_SIDE)
            t1 = time.process_time()
            labeller.labels(image)
            t2 = time.process_time()
            dominant_colours(image)
            t3 = time.process_time()
            judge.safety(image)
            t4 = time.process_time()
            for name, value in zip(parts, (t1 - t, t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[name].append(value * 1000)
    log.info("CPU ms per 12 MP JPEG (median of %d runs over %d photos):", ROUNDS, len(sources))
    total = 0.0
    for name, values in parts.items():
        median = statistics.median(values)
        total += median
        log.info("  %-8s %6.1f", name, median)
    log.info("  %-8s %6.1f", "total", total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
