"""The input check shared by the teaching functions (pooling, kernel gradients): numbers a
student typed into a grid arrive here before any arithmetic."""

from __future__ import annotations

import numpy as np


def finite_array(a, name: str, ndims: tuple[int, ...] = (2,)) -> np.ndarray:
    """``a`` as a finite, non-empty float64 array with one of the allowed numbers of
    dimensions; otherwise a ValueError that names ``name`` and says what is wrong."""
    try:
        arr = np.asarray(a)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers ({err})") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must contain numbers, got values of type {arr.dtype}")
    if arr.ndim not in ndims:
        allowed = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{name} must be {allowed}, got {arr.ndim}-D with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
