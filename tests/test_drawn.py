"""lenet.drawn: the drawn-digit evaluation set is reproducible per split, the splits
differ, every sample is a real drawing the app's preprocessing reads, and the pen widths
are the ones named."""

from __future__ import annotations

import numpy as np
import pytest

from lenet.drawn import CANVAS, HANDS, PEN_WIDTHS, available_fonts, samples
from lenet.preprocess import canvas_steps


def test_splits_are_reproducible_and_differ():
    a = list(samples("dev", per_glyph=1))
    b = list(samples("dev", per_glyph=1))
    c = list(samples("eval", per_glyph=1))
    assert len(a) == len(c) == 3 * (len(HANDS) * 10 + 10 * len(available_fonts()))
    assert all(np.array_equal(x.canvas, y.canvas) for x, y in zip(a, b, strict=True))
    assert [(s.source, s.digit, s.pen) for s in a] == [(s.source, s.digit, s.pen) for s in c]
    assert sum(np.array_equal(x.canvas, y.canvas) for x, y in zip(a, c, strict=True)) == 0
    with pytest.raises(ValueError, match="split"):
        next(samples("test"))


def test_every_sample_is_a_canvas_drawing_with_its_pen_width():
    for s in samples("dev", per_glyph=1):
        assert s.canvas.shape == (CANVAS, CANVAS, 4) and s.canvas.dtype == np.uint8
        low, high = PEN_WIDTHS[s.pen]
        assert low <= s.width <= high
        steps = canvas_steps(s.canvas)
        assert steps is not None and steps.centred28.max() > 128
        ink = s.canvas[..., 0] > 0
        assert not (ink[0].any() or ink[-1].any() or ink[:, 0].any() or ink[:, -1].any())
