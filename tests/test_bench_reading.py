"""bench/reading.py and its written-number set: the edit distance against brute force,
the set's determinism and kinds, and a tiny run with the shipped classic model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from bench.common import DATA_DIR
from bench.reading import edit_distance, score_set
from bench.written_numbers import number_set
from lenet.checkpoint import SHIPPED_MODELS_DIR, load_checkpoint
from lenet.preprocess import rgba_to_ink
from lenet.reading import label_components

CLASSIC = SHIPPED_MODELS_DIR / "lenet5-classic.safetensors"


def brute_edit_distance(a: str, b: str) -> int:
    """The fewest edits, by trying every alignment (tiny strings only)."""
    if not a or not b:
        return len(a) + len(b)
    return min(
        brute_edit_distance(a[1:], b) + 1,
        brute_edit_distance(a, b[1:]) + 1,
        brute_edit_distance(a[1:], b[1:]) + (a[0] != b[0]),
    )


def test_edit_distance():
    for a, b in itertools.product(["", "1", "12", "121", "2113", "3012"], repeat=2):
        assert edit_distance(a, b) == brute_edit_distance(a, b)


@pytest.mark.parametrize(
    "source",
    [
        "strokes",
        pytest.param(
            "mnist",
            marks=pytest.mark.skipif(
                not (DATA_DIR / "t10k-images-idx3-ubyte").exists()
                and not (DATA_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                reason="MNIST not in data/mnist (python -m lenet.data)",
            ),
        ),
    ],
)
def test_the_set_is_deterministic_and_its_kinds_hold(source):
    first = number_set(source, "apart", 3, seed=5)
    again = number_set(source, "apart", 3, seed=5)
    assert [n.digits for n in first] == [n.digits for n in again]
    assert all(np.array_equal(a.rgba, b.rgba) for a, b in zip(first, again, strict=True))
    for n in first:
        assert 3 <= len(n.digits) <= 8 and n.rgba.dtype == np.uint8 and n.rgba.shape[2] == 4
    touching = number_set(source, "touching", 3, seed=5)
    for n in touching:  # every digit touches its neighbours: one component
        _, boxes = label_components(rgba_to_ink(n.rgba) > 0)
        assert len(boxes) <= 2  # a detached 5's flag may stay apart


@pytest.mark.skipif(not CLASSIC.is_file(), reason="models/lenet5-classic.safetensors missing")
def test_score_set_with_the_classic_model():
    torch.set_num_threads(1)
    out = score_set(number_set("strokes", "apart", 5, seed=7), load_checkpoint(CLASSIC))
    assert out["numbers"] == 5 and 0 <= out["digits_pct"] <= 100
    assert out["numbers_pct"] == 100 * (5 - len(out["misread"])) / 5
    assert out["median_ms"] > 0


def test_each_pixel_has_its_digit_and_the_diagnostic_finds_the_right_path():
    from bench.reading_reach import number_graph

    for kind in ("apart", "touching"):
        for n in number_set("strokes", kind, 3, seed=5):
            ink = rgba_to_ink(n.rgba)
            assert n.owner.shape == ink.shape
            assert np.array_equal(n.owner >= 0, ink > 0)
            assert set(np.unique(n.owner[n.owner >= 0])) == set(range(len(n.digits)))
    for n in number_set("strokes", "apart", 3, seed=5):  # apart: the right path is there
        graph = number_graph(n)
        assert graph["reachable"] and graph["touching"] == 0
