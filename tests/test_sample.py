"""The MNIST sample shipped in models/ (the app's "real MNIST digit" and the mistakes gallery)."""

from __future__ import annotations

import numpy as np
import pytest

from lenet.sample import PER_CLASS, build_sample, read_sample, sample_path


def synthetic(n=1000, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    return images, labels


def test_build_sample_is_stratified_and_keeps_the_hard_digits():
    images, labels = synthetic()
    wrong = np.zeros(len(labels), bool)
    wrong[[3, 17, 500]] = True
    arrays = build_sample(images, labels, wrong)
    random_part = ~arrays["hard"]
    assert np.bincount(arrays["labels"][random_part], minlength=10).tolist() == [PER_CLASS] * 10
    assert set(np.flatnonzero(wrong)) <= set(arrays["indices"].tolist())
    assert len(set(arrays["indices"].tolist())) == len(arrays["indices"])
    assert np.array_equal(arrays["images"], images[arrays["indices"]])
    assert np.array_equal(arrays["labels"], labels[arrays["indices"]])


def test_round_trip_and_missing_or_bad_files(tmp_path):
    images, labels = synthetic()
    arrays = build_sample(images, labels, np.zeros(len(labels), bool))
    np.savez_compressed(tmp_path / "s.npz", **arrays)
    sample = read_sample(tmp_path / "s.npz")
    assert sample is not None and len(sample.random) == 10 * PER_CLASS
    assert sample.steps(0).padded32.shape == (32, 32)
    assert read_sample(tmp_path / "missing.npz") is None
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    assert read_sample(tmp_path / "bad.npz") is None


def test_shipped_sample_matches_the_mnist_test_set(mnist_test):
    sample = read_sample(sample_path())
    if sample is None:
        pytest.skip("models/mnist-sample.npz not built yet: python -m lenet.sample")
    images, labels = mnist_test
    assert np.array_equal(sample.images, images[sample.indices])
    assert np.array_equal(sample.labels, labels[sample.indices])
    assert sample.hard.sum() > 0
