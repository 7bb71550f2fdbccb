"""Digits drawn as a person would: polylines in unit coordinates (0..1, y down), rendered
to an RGBA canvas (white ink on black) for the unit and AppTest tests, and replayed as
mouse strokes by the browser tests."""

from __future__ import annotations

import numpy as np

from lenet.drawn import TESTS_HAND, rasterise
from lenet.drawn import arc as _arc

# Each digit is a list of strokes; each stroke a list of (x, y) points (lenet.drawn holds
# them: the drawn-digit evaluation set reads them as its "tests" hand).
STROKES = TESTS_HAND


# Digits whose strokes do not meet, as people write them: an open 4 in two strokes, a 5
# whose flag is written after lifting the pen (the reading tests: one digit each).
BROKEN: dict[int, list[list[tuple[float, float]]]] = {
    4: [[(0.3, 0.16), (0.26, 0.56), (0.55, 0.56)], [(0.7, 0.18), (0.7, 0.86)]],
    5: [
        [(0.34, 0.27), (0.31, 0.48)] + _arc(0.47, 0.63, 0.21, 0.19, 250, 480, 20),
        [(0.4, 0.15), (0.74, 0.15)],
    ],
}


def render(digit: int, size: int = 280, width: int = 22) -> np.ndarray:
    """An RGBA canvas (size, size, 4) uint8 with the digit drawn in white on black."""
    return render_strokes(STROKES[digit], size, width)


def render_strokes(strokes, size: int = 280, width: int = 22) -> np.ndarray:
    """An RGBA canvas (size, size, 4) uint8 with these strokes drawn in white on black."""
    points = [[(x * size, y * size) for x, y in stroke] for stroke in strokes]
    return rasterise(points, width, size)


def strip(glyphs, size: int = 200, width: int = 18, gap: int = 30):
    """Digits side by side on one wide RGBA canvas, ``gap`` blank columns between their
    ink (negative: overlapping, so that they touch). ``glyphs`` are digits (STROKES) or
    stroke lists. Returns the canvas and each glyph's ink box (x0, y0, x1, y1), end
    exclusive."""
    tiles = []
    for glyph in glyphs:
        tile = render_strokes(STROKES[glyph] if isinstance(glyph, int) else glyph, size, width)
        cols = np.flatnonzero(tile[..., 0].any(0))
        tiles.append(tile[:, cols[0] : cols[-1] + 1])
    margin = 20
    total = margin * 2 + sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    canvas = np.zeros((size, total, 4), np.uint8)
    canvas[..., 3] = 255
    boxes, x = [], margin
    for tile in tiles:
        view = canvas[:, x : x + tile.shape[1]]
        np.maximum(view, tile, out=view)
        rows = np.flatnonzero(tile[..., 0].any(1))
        boxes.append((x, int(rows[0]), x + tile.shape[1], int(rows[-1]) + 1))
        x += tile.shape[1] + gap
    return canvas, boxes
