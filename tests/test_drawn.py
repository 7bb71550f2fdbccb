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


def test_a_cards_drawn_entry_adds_up_and_keeps_the_misread_digits():
    import base64

    from lenet.drawn import CARD_ERROR_IMAGES, card_entry, evaluation_set
    from lenet.evaluate import drawn_disagreements
    from lenet.model import build_model

    model = build_model("modern")  # untrained: many errors, more than the card keeps images of
    entry = card_entry(model, "dev", per_glyph=1)
    meta, images = evaluation_set("dev", per_glyph=1)
    assert entry["samples"] == len(meta) and set(entry["by_pen"]) == set(PEN_WIDTHS)
    assert entry["accuracy"] == pytest.approx(1 - len(entry["errors"]) / len(meta))
    assert len(entry["errors"]) > CARD_ERROR_IMAGES
    for k, e in enumerate(entry["errors"]):
        assert e["predicted"] != e["digit"] == meta[e["index"]]["digit"]
        if k < CARD_ERROR_IMAGES:
            pixels = np.frombuffer(base64.b64decode(e["image"]), np.uint8).reshape(28, 28)
            assert np.array_equal(pixels, images[e["index"]])
        else:
            assert "image" not in e
    assert drawn_disagreements(entry, entry) == []
    wrong = {**entry, "accuracy": entry["accuracy"] + 0.01, "by_pen": {}}
    problems = drawn_disagreements(wrong, entry)
    assert len(problems) == 1 + len(PEN_WIDTHS) and "drawn-digit accuracy" in problems[0]
