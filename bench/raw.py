"""Raw: the same image work in one process, sequentially, no storage and no network: the floor.

The same work as the pipeline's steps: analyse, extract EXIF (added to the pipeline with issue
13, to raw with issue 14: before, the stack's EXIF step counted as overhead), check safety,
thumbnail, collage."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

from picadaily.safety import check_safety
from services.collage.core import compose
from services.exif.core import OfflineGazetteer, read_exif
from services.thumbnails.core import render_thumbnail
from services.vision.core import LocalVision, Vision

MAX_PIXELS = 60_000_000


@dataclass
class RawResult:
    wall_ms: list[float]
    cpu_s: list[float]
    peak_rss_mb: float
    # of which the analysis (labels, colour, safety): the work the stack's vision does alone,
    # so its CPU there says how much slower the host ran under the stack's load
    analyse_cpu_s: list[float] = field(default_factory=list)


def run_raw(vision: Vision, photos: list[bytes], progress: object = None) -> RawResult:
    thumbs: list[bytes] = []
    gazetteer = OfflineGazetteer()
    wall, cpu, analyse = [], [], []
    for data in photos:
        t0, c0 = time.perf_counter(), time.process_time()
        analysis = vision.analyse_bytes(data)
        analyse.append(time.process_time() - c0)
        read_exif(data, gazetteer)
        check_safety(analysis.safety)
        thumb, _ = render_thumbnail(data, size=400, max_pixels=MAX_PIXELS)
        thumbs = [thumb, *thumbs][:4]
        compose(thumbs)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append(time.process_time() - c0)
        if callable(progress):
            progress()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return RawResult(wall_ms=wall, cpu_s=cpu, peak_rss_mb=peak, analyse_cpu_s=analyse)


def local_vision() -> Vision:
    from picadaily.storage import InMemoryObjectStore
    from services.vision.labels import OnnxLabeller
    from services.vision.safety import OpenNsfwJudge

    backend = LocalVision(labeller=OnnxLabeller(), safety_judge=OpenNsfwJudge())
    return Vision(InMemoryObjectStore(), max_pixels=MAX_PIXELS, backend=backend)
