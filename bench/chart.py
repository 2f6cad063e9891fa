"""A PNG chart of the bench results, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

COLOURS = {"raw": (120, 120, 120), "choreography": (194, 106, 0), "orchestration": (31, 95, 191)}
PANELS = [("throughput_per_s", "pictures / s (burst)"), ("cpu_s_per_picture", "CPU s / picture"),
          ("p50_ms", "p50 ms (one at a time)"), ("peak_rss_mb", "peak memory MB")]


def draw_chart(results: dict[str, Any], path: Path) -> None:
    width, panel_h = 900, 150
    image = Image.new("RGB", (width, 60 + panel_h * len(PANELS)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 15), f"PicaDaily bench - {results['machine']} - {results['date']}", fill="black")
    modes = results["modes"]
    for i, (key, title) in enumerate(PANELS):
        top = 50 + i * panel_h
        draw.text((20, top), title, fill="black")
        values = {m: modes[m].get(key) for m in modes}
        peak = max((v for v in values.values() if v), default=1) or 1
        for j, (mode, value) in enumerate(values.items()):
            y = top + 22 + j * 36
            draw.text((20, y + 8), mode, fill="black")
            length = int((width - 300) * (value or 0) / peak)
            draw.rectangle((150, y, 150 + max(length, 1), y + 26), fill=COLOURS.get(mode, "grey"))
            label = "n/a" if value is None else f"{value:.3g}"
            draw.text((160 + length, y + 8), label, fill="black")
    image.save(path)


SCALE_PANELS = [("throughput_per_s", "pictures / s (burst of 50)"),
                ("cpu_s_per_picture", "CPU s / picture"), ("p50_ms", "p50 ms (one at a time)"),
                ("store_metadata_ms", "store_metadata p50 ms"),
                ("update_collage_ms", "update_collage p50 ms")]


def draw_scale_chart(results: dict[str, Any], path: Path) -> None:
    """The cost curve: each figure per library size, both modes side by side."""
    sizes = list(results["by_size"])
    modes = ("choreography", "orchestration")
    rows = len(sizes) * len(modes)
    width, row_h = 900, 22
    panel_h = 30 + rows * row_h
    panels = [("gallery_page_ms", "gallery page p50 ms"), *SCALE_PANELS]
    image = Image.new("RGB", (width, 60 + panel_h * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 15), f"PicaDaily cost curve - library of {', '.join(map(str, sizes))} "
                        f"pictures - {results['date']}", fill="black")
    for i, (key, title) in enumerate(panels):
        top = 50 + i * panel_h
        draw.text((20, top), title, fill="black")
        bars = [(f"{size} {mode[:5]}", mode,
                 results["by_size"][size].get(key) if key == "gallery_page_ms"
                 else results["by_size"][size][mode].get(key))
                for size in sizes for mode in modes]
        peak = max((v for _, _, v in bars if v), default=1) or 1
        for j, (label, mode, value) in enumerate(bars):
            y = top + 20 + j * row_h
            draw.text((20, y + 4), label, fill="black")
            length = int((width - 320) * (value or 0) / peak)
            draw.rectangle((170, y, 170 + max(length, 1), y + row_h - 4),
                           fill=COLOURS[mode])
            draw.text((180 + length, y + 4), "n/a" if value is None else f"{value:.3g}",
                      fill="black")
    image.save(path)
