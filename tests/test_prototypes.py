"""The paper's 7x12 output bitmaps (lenet.prototypes) look like their digits: each one,
drawn large and put through the app's preprocessing like a drawing, is read as its digit
by the shipped modern checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from lenet.prototypes import COLS, ROWS, bitmap_drawing, paper_bitmaps, paper_prototypes


def test_ten_bitmaps_of_plus_minus_one():
    bitmaps = paper_bitmaps()
    assert bitmaps.shape == (10, ROWS, COLS) == (10, 12, 7)
    assert set(np.unique(bitmaps)) == {-1.0, 1.0}
    assert np.array_equal(paper_prototypes(), bitmaps.reshape(10, 84))
    # ten different pictures, each with ink in it
    assert len({b.tobytes() for b in bitmaps}) == 10
    assert (bitmaps > 0).sum(axis=(1, 2)).min() > 10


def test_each_bitmap_is_read_as_its_digit_by_the_modern_network():
    from lenet.checkpoint import default_path, load_checkpoint
    from lenet.inference import predict
    from lenet.preprocess import ink_to_steps

    path = default_path("modern")
    if not path.is_file():
        pytest.skip(f"{path} is not there (python -m lenet.train --variant modern)")
    model = load_checkpoint(path)
    read = [predict(model, ink_to_steps(bitmap_drawing(d)).centred28).digit for d in range(10)]
    assert read == list(range(10))
