"""Dominant colours, like Cloud Vision's image properties: top colours with pixel fractions."""

from __future__ import annotations

from PIL import Image

from picadaily.contracts import Colour

SAMPLE_SIDE = 96
PALETTE_SIZE = 8


def dominant_colours(image: Image.Image, top: int = 5) -> list[Colour]:
    """The most common colours of an RGB image, most common first; fractions sum to ~1."""
    small = image.copy()
    small.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.BILINEAR)
    quantized = small.quantize(colors=PALETTE_SIZE, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts: list[tuple[int, int]] = sorted(quantized.getcolors() or [], reverse=True)  # type: ignore[arg-type]
    total = sum(count for count, _ in counts) or 1
    colours = []
    for count, index in counts[:top]:
        r, g, b = (int(v) for v in palette[index * 3 : index * 3 + 3])
        fraction = count / total
        colours.append(Colour(red=r, green=g, blue=b, pixel_fraction=round(fraction, 4),
                              score=round(fraction, 4)))
    return colours
