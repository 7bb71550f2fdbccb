"""Tiny MNIST-format files for tests (no network, no real data needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from lenet.data import MNIST_FILES

_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B}
_CODES |= {np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """Serialise ``arr`` as an IDX file (big-endian)."""
    dt = arr.dtype if arr.dtype.itemsize == 1 else arr.dtype.newbyteorder(">")
    header = struct.pack(">BBBB", 0, 0, _CODES[dt], arr.ndim)
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(dt).tobytes()


def write_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Four MNIST-format files of random 28x28 images with random labels."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (root / MNIST_FILES[split].images).write_bytes(idx_bytes(images))
        (root / MNIST_FILES[split].labels).write_bytes(idx_bytes(labels))
    return root
