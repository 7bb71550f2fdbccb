"""lenet.reading on synthetic strips with known boxes (lenet_testkit/digits.py), and its parts
against brute force: connected components against a flood fill, the best path against
every path."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest

from lenet.checkpoint import SHIPPED_MODELS_DIR, load_checkpoint
from lenet.inference import predict
from lenet.preprocess import canvas_to_mnist, rgba_to_ink
from lenet.reading import (
    EMPTY,
    MAX_PIECES,
    Candidate,
    ReadingError,
    best_path,
    label_components,
    over_segment,
    read_number,
    sliding_outputs,
)
from lenet.segments import load_scorer
from lenet_testkit.digits import BROKEN, STROKES, render, strip

CLASSIC = SHIPPED_MODELS_DIR / "lenet5-classic.safetensors"
needs_classic = pytest.mark.skipif(
    not CLASSIC.is_file(), reason="models/lenet5-classic.safetensors not trained yet"
)


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(CLASSIC)


def black(h: int, w: int) -> np.ndarray:
    canvas = np.zeros((h, w, 4), np.uint8)
    canvas[..., 3] = 255
    return canvas


@needs_classic
def test_separated_digits_are_read_with_their_boxes(model):
    canvas, boxes = strip([7, 2, 0, 4, 1, 3], gap=30)
    reading = read_number(canvas, model)
    assert reading.digits == "720413"
    assert reading.boxes == boxes
    assert all(c > 0.9 for c in reading.confidences) and not any(reading.unsure)
    assert [im.shape for im in reading.images] == [(28, 28)] * 6
    # The winning path covers every piece once, left to right.
    path = [reading.candidates[i] for i in reading.path]
    assert path[0].start == 0 and path[-1].stop == len(reading.nodes) - 1
    assert all(a.stop == b.start for a, b in itertools.pairwise(path))


@needs_classic
@pytest.mark.parametrize("digit", [4, 5])
def test_a_digit_in_separate_strokes_is_one_digit(model, digit):
    canvas, (box,) = strip([BROKEN[digit]])
    assert len(over_segment(rgba_to_ink(canvas)).boxes) >= 2  # really in pieces
    reading = read_number(canvas, model)
    assert reading.digits == str(digit)
    assert reading.boxes == [box]


@needs_classic
def test_broken_digits_among_others(model):
    canvas, boxes = strip([BROKEN[5], 0, BROKEN[4], 7], gap=25)
    reading = read_number(canvas, model)
    assert reading.digits == "5047"
    assert reading.boxes == boxes


@needs_classic
@pytest.mark.parametrize("pair", [(2, 3), (0, 4), (1, 2), (3, 4)])
def test_a_touching_pair_is_two_digits(model, pair):
    canvas, boxes = strip(list(pair), gap=-6)
    _, components = label_components(rgba_to_ink(canvas) > 25)
    assert len(components) == 1  # the two digits really touch
    reading = read_number(canvas, model, load_scorer())  # as the page reads (no scorer: None)
    assert reading.digits == "".join(map(str, pair))
    assert len(reading.cuts) >= 1
    for got, want in zip(reading.boxes, boxes, strict=True):
        assert np.abs(np.subtract(got, want)).max() <= 40  # about two pen widths


@needs_classic
@pytest.mark.parametrize(
    "canvas", [black(280, 1120), np.zeros((280, 1120, 4), np.uint8)], ids=["black", "clear"]
)
def test_an_empty_canvas_reads_nothing(model, canvas):
    assert read_number(canvas, model) == EMPTY
    positions, probabilities = sliding_outputs(canvas, model)
    assert positions.shape == (0,) and probabilities.shape == (0, 10)


@needs_classic
@pytest.mark.parametrize("digit", sorted(STROKES))
def test_a_single_digit_reads_as_the_draw_page_predicts(model, digit):
    canvas = render(digit)
    expected = predict(model, canvas_to_mnist(canvas))
    reading = read_number(canvas, model)
    assert reading.digits == str(expected.digit)
    assert np.array_equal(reading.images[0], canvas_to_mnist(canvas))
    assert reading.confidences[0] == pytest.approx(expected.confidence, abs=1e-6)


@needs_classic
def test_a_photo_ink_map_and_a_large_input_read_the_same(model):
    canvas, boxes = strip([3, 1, 4], gap=30)
    ink = rgba_to_ink(canvas).astype(np.float32) / 255  # as photo_to_ink gives
    assert read_number(ink, model).digits == "314"
    big = np.kron(canvas, np.ones((4, 4, 1), np.uint8))  # over MAX_WORK_PIXELS: scaled down
    reading = read_number(big, model)
    assert reading.digits == "314"
    for got, want in zip(reading.boxes, boxes, strict=True):  # in the input's pixels
        assert np.abs(np.subtract(got, np.multiply(want, 4))).max() <= 8


@needs_classic
def test_a_canvas_full_of_ink_is_refused(model):
    canvas = np.full((280, 1120, 4), 255, np.uint8)
    with pytest.raises(ReadingError) as e:
        read_number(canvas, model)
    assert e.value.reason == "too_much_ink"


def line_canvas(points, width: int = 16) -> np.ndarray:
    """One stroke through ``points`` on the reading page's 960x240 canvas."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (960, 240))
    ImageDraw.Draw(image).line(points, fill=255, width=width)
    ink = np.asarray(image)
    return np.dstack([ink, ink, ink, np.full_like(ink, 255)])


@needs_classic
def test_a_dash_is_refused_as_a_line_not_as_too_much_ink(model):
    """A flat stroke fills its own box: it was refused for "too much ink", with the advice
    to write with a thinner pen, which cannot help."""
    with pytest.raises(ReadingError) as e:
        read_number(line_canvas([(40, 120), (900, 120)]), model)
    assert e.value.reason == "a_line"


@needs_classic
def test_a_slash_is_read_as_no_digits_and_its_guesses_flagged(model):
    """A slash across the canvas has no digit in it: the segment scorer calls most of its
    pieces "none". The reading says so, and none of those is shown as a sure digit (a
    digit's confidence is P(that digit) x P(a digit at all)): they read 98% sure before."""
    reading = read_number(line_canvas([(40, 220), (900, 20)]), model, load_scorer())
    assert reading.digits and not reading.looks_like_digits
    nones = [reading.candidates[i].none > 0.5 for i in reading.path]
    assert sum(nones) > len(nones) / 2
    assert all(u for u, none in zip(reading.unsure, nones, strict=True) if none)


@needs_classic
def test_a_written_number_looks_like_digits(model):
    image, _ = strip([3, 1, 4], size=160, width=14, gap=30)
    reading = read_number(image, model, load_scorer())
    assert reading.digits == "314" and reading.looks_like_digits and not any(reading.unsure)
    plain = read_number(image, model)  # without a scorer: the network's own confidence
    assert plain.confidences == [plain.candidates[i].confidence for i in plain.path]


@needs_classic
def test_ten_thousand_specks_are_refused(model):
    canvas = black(400, 1600)
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 200, 10_000) * 2, rng.integers(0, 800, 10_000) * 2
    canvas[ys, xs, :3] = 255
    with pytest.raises(ReadingError) as e:
        read_number(canvas, model)
    assert e.value.reason == "too_many_pieces" and e.value.fields["limit"] == MAX_PIECES


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError):
        read_number(np.zeros((10, 10, 3), np.uint8), None)
    with pytest.raises(ValueError):
        read_number(np.zeros((10, 10), np.int64), None)


def flood_fill_components(mask: np.ndarray) -> int:
    """The number of 8-connected components, by breadth-first search."""
    seen = np.zeros_like(mask)
    count = 0
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        count += 1
        seen[y, x] = True
        queue = deque([(y, x)])
        while queue:
            cy, cx = queue.popleft()
            for dy, dx in itertools.product((-1, 0, 1), repeat=2):
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]:
                    if mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
    return count


@pytest.mark.parametrize("seed", range(20))
def test_components_agree_with_a_flood_fill(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((rng.integers(1, 30), rng.integers(1, 40))) < rng.uniform(0.2, 0.6)
    label_map, boxes = label_components(mask)
    assert len(boxes) == flood_fill_components(mask)
    assert np.array_equal(label_map > 0, mask)
    for k, (x0, y0, x1, y1) in enumerate(boxes, 1):
        ys, xs = np.nonzero(label_map == k)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
        # no pixel of label k touches a pixel of another label
        grown = np.zeros_like(mask)
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            grown[
                max(dy, 0) : mask.shape[0] + min(dy, 0), max(dx, 0) : mask.shape[1] + min(dx, 0)
            ] |= (label_map == k)[
                max(-dy, 0) : mask.shape[0] + min(-dy, 0), max(-dx, 0) : mask.shape[1] + min(-dx, 0)
            ]
        assert set(np.unique(label_map[grown & mask])) == {k}


@pytest.mark.parametrize("seed", range(20))
def test_best_path_is_the_best_of_every_path(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    candidates = []
    for start in range(n):
        for stop in range(start + 1, min(start + 3, n) + 1):
            width = int(rng.integers(1, 50))
            candidates.append(
                Candidate(
                    start,
                    stop,
                    (0, 0, width, 10),
                    0,
                    float(rng.uniform(0.01, 1)),
                    float(-rng.uniform(0, 2)),
                    np.zeros((28, 28), np.uint8),
                    np.zeros(10),
                )
            )

    def total(path):
        return sum((candidates[i].box[2]) * candidates[i].score for i in path)

    def paths(gap):
        if gap == n:
            yield []
        for i, c in enumerate(candidates):
            if c.start == gap:
                for rest in paths(c.stop):
                    yield [i, *rest]

    best = max(total(p) for p in paths(0))
    assert total(best_path(candidates, n)) == pytest.approx(best)


@needs_classic
def test_the_sliding_view_sees_each_separated_digit(model):
    canvas, boxes = strip([7, 2, 0], gap=60)
    positions, probabilities = sliding_outputs(canvas, model)
    assert len(positions) == len(probabilities) > 10
    assert np.all(np.diff(positions) > 0)
    assert positions[0] == pytest.approx(boxes[0][0]) and positions[-1] <= boxes[-1][2] + 1
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
    for digit, (x0, _, x1, _) in zip((7, 2, 0), boxes, strict=True):
        centre = np.argmin(np.abs(positions - (x0 + x1) / 2))
        assert probabilities[centre].argmax() == digit
