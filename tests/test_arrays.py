"""lenet.arrays.finite_array: the check every teaching grid goes through."""

from __future__ import annotations

import numpy as np
import pytest

from lenet.arrays import finite_array


def test_numbers_come_back_as_float64_unchanged():
    out = finite_array([[1, 2], [3, 4]], "x")
    assert out.dtype == np.float64 and out.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    cube = np.arange(8, dtype=np.int8).reshape(2, 2, 2)
    assert finite_array(cube, "w", (2, 3)).shape == (2, 2, 2)


@pytest.mark.parametrize(
    "value, ndims, message",
    [
        ([[1, 2], [3]], (2,), "x must be a rectangular array"),
        ([["a", "b"]], (2,), "x must contain numbers"),
        (np.ones((2, 2), bool), (2,), "x must contain numbers"),
        (np.ones(3), (2,), r"x must be 2-D, got 1-D with shape \(3,\)"),
        (np.ones((2, 2)), (3,), "x must be 3-D, got 2-D"),
        (np.ones((1, 1, 1, 1)), (2, 3), "x must be 2-D or 3-D"),
        (np.ones((0, 4)), (2,), r"x is empty \(shape \(0, 4\)\)"),
        ([[1.0, np.nan]], (2,), "x contains NaN or infinite values"),
        ([[-np.inf, 1.0]], (2,), "x contains NaN or infinite values"),
    ],
)
def test_what_is_wrong_is_said_with_the_name(value, ndims, message):
    with pytest.raises(ValueError, match=message):
        finite_array(value, "x", ndims)
