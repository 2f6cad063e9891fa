"""The bench's arithmetic and outputs (the bench itself measures; tests never time anything)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bench.chart import draw_chart
from bench.photos import phone_sized
from bench.raw import RawResult
from bench.run import percentile, summarise, table
from bench.stack_modes import Burst, ModeResult
from tests.conftest import PHOTOS


def test_ratios_are_against_the_machine_limit_of_raw() -> None:
    raw = RawResult(wall_ms=[50.0, 60.0, 70.0], cpu_s=[0.05, 0.05, 0.05], peak_rss_mb=200)
    chor = ModeResult(latency_ms=[100.0, 120.0], bursts=[Burst(
        size=10, burst_s=2.5, cpu_s=1.5, pictures_measured=10, peak_rss_mb=900,
        messages_per_picture=5.0)])
    modes = summarise(raw, {"choreography": chor}, cores=2)
    assert modes["raw"]["throughput_per_s"] == 40.0  # 2 cores / 0.05 s
    assert modes["choreography"]["throughput_per_s"] == 4.0
    assert modes["choreography"]["throughput_vs_raw"] == 0.1
    assert modes["choreography"]["cpu_vs_raw"] == 3.0
    assert modes["choreography"]["p50_minus_raw_p50_ms"] == 100.0 - 60.0
    assert len(table(modes)) == 4


def test_percentiles() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(list(map(float, range(101))), 0.95) == 95.0


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    modes = {m: {"throughput_per_s": 1.0, "cpu_s_per_picture": 0.1, "p50_ms": 10.0,
                 "peak_rss_mb": None} for m in ("raw", "choreography", "orchestration")}
    path = tmp_path / "chart.png"
    draw_chart({"machine": "test", "date": "today", "modes": modes}, path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width == 900


def test_phone_sized_photos_are_12_megapixel_jpegs_made_the_same_way_each_time() -> None:
    first = phone_sized(PHOTOS / "good" / "rocket.jpg")
    assert first == phone_sized(PHOTOS / "good" / "rocket.jpg")
    import io

    with Image.open(io.BytesIO(first)) as image:
        assert image.format == "JPEG" and image.width * image.height >= 12_000_000


def test_the_profile_counts_own_time_by_leaf_frame() -> None:
    from bench.profile import top_frames

    raw = ("main (a.py:1);decode (pil.py:9) 30\n"
           "main (a.py:1);infer (onnx.py:4) 60\n"
           "main (a.py:1);decode (pil.py:9) 10\n"
           "garbage line\n")
    report = top_frames(raw, top=2)
    assert report["samples"] == 100
    assert report["top"] == [{"frame": "infer (onnx.py:4)", "share": 0.6},
                             {"frame": "decode (pil.py:9)", "share": 0.4}]
    assert top_frames("") == {"samples": 0, "top": []}


def test_the_stack_s_vision_is_compared_with_raw_s_analysis_of_the_same_pictures() -> None:
    raw = RawResult(wall_ms=[50.0], cpu_s=[0.07, 0.07], peak_rss_mb=200,
                    analyse_cpu_s=[0.048, 0.052])
    chor = ModeResult(latency_ms=[100.0], bursts=[Burst(
        size=10, burst_s=2.5, cpu_s=1.2, pictures_measured=10, peak_rss_mb=900,
        messages_per_picture=5.0,
        cpu_ms_per_picture_by_process={"vision": 55.0, "metadata": 7.0})])
    orch = ModeResult(latency_ms=[100.0], bursts=[Burst(
        size=10, burst_s=2.5, cpu_s=1.5, pictures_measured=10, peak_rss_mb=900,
        messages_per_picture=1.0)])
    modes = summarise(raw, {"choreography": chor, "orchestration": orch}, cores=2)
    assert modes["raw"]["analyse_cpu_ms_per_picture"] == 50.0
    assert modes["choreography"]["same_analysis_vs_raw"] == 1.1  # 55 / 50
    assert modes["orchestration"]["same_analysis_vs_raw"] is None  # no vision figure


def test_a_mode_reports_its_median_burst_and_every_burst_beside_it() -> None:
    result = ModeResult(latency_ms=[100.0])

    def burst(cpu_s: float, burst_s: float, peak: float, slowest: str) -> Burst:
        return Burst(size=10, burst_s=burst_s, cpu_s=cpu_s, pictures_measured=10,
                     peak_rss_mb=peak, cpu_ms_per_picture_by_process={slowest: 1.0})

    result.bursts.append(burst(1.6, 2.0, 900, "slow phase"))
    assert result.headline.cpu_s == 1.6  # one burst: it is the median
    result.bursts.append(burst(1.1, 2.5, 800, "quick"))
    assert result.headline.cpu_s == 1.1  # two: the lower middle one
    result.bursts.append(burst(1.2, 3.0, 1000, "median"))
    assert (result.headline.cpu_s, result.headline.burst_s) == (1.2, 3.0)
    assert result.headline.cpu_ms_per_picture_by_process == {"median": 1.0}
    assert result.peak_rss_mb == 1000  # the highest of all
    raw = RawResult(wall_ms=[50.0], cpu_s=[0.06], peak_rss_mb=200)
    modes = summarise(raw, {"choreography": result}, cores=2)
    assert modes["choreography"]["cpu_vs_raw"] == 2.0  # 0.12 / 0.06
    assert modes["choreography"]["bursts_cpu_s_per_picture"] == [0.16, 0.11, 0.12]
    assert modes["choreography"]["bursts_throughput_per_s"] == [5.0, 4.0, 3.33]


def test_bursts_are_set_against_raw_measured_around_them() -> None:
    result = ModeResult(latency_ms=[100.0])
    # (CPU per picture, raw's around it): a slow phase slows both
    for cpu_s, raw_around in ((1.5, 0.09), (1.1, 0.06), (1.3, 0.07)):
        result.bursts.append(Burst(size=10, burst_s=2.0, cpu_s=cpu_s, pictures_measured=10,
                                   raw_cpu_s_per_picture=raw_around))
    # ratios 1.67, 1.83, 1.86: the median is the second burst (by CPU alone, the third)
    assert result.headline is result.bursts[1]
    raw = RawResult(wall_ms=[50.0], cpu_s=[0.05], peak_rss_mb=200)
    modes = summarise(raw, {"choreography": result}, cores=2)
    chor = modes["choreography"]
    assert chor["cpu_vs_raw"] == 1.83  # 0.11 / 0.06
    assert chor["raw_cpu_s_per_picture_around"] == 0.06
    assert chor["cpu_vs_the_runs_raw"] == 2.2  # 0.11 / 0.05
    assert chor["bursts_cpu_vs_raw"] == [1.67, 1.83, 1.86]
    assert chor["throughput_vs_raw"] == 0.15  # 5 pictures/s over 2 cores / 0.06 s
