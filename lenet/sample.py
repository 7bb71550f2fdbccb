"""The small MNIST sample shipped in models/mnist-sample.npz (the app needs no download).

    python -m lenet.sample --data data/mnist

It holds 300 test digits drawn at random, 30 of each class (``random``), plus every test
digit that one of the shipped checkpoints gets wrong (``hard``), for the model card's
gallery of mistakes. Stored without pickle; read with ``allow_pickle=False``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lenet.checkpoint import models_dir
from lenet.preprocess import Steps, mnist_steps

SAMPLE_NAME = "mnist-sample.npz"  # shipped in the models folder


def sample_path() -> Path:
    return models_dir() / SAMPLE_NAME


PER_CLASS = 30


@dataclass(frozen=True)
class Sample:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) uint8
    indices: np.ndarray  # (N,) index in the MNIST test set
    hard: np.ndarray  # (N,) bool: misclassified by a shipped checkpoint

    def steps(self, i: int) -> Steps:
        return mnist_steps(self.images[i])

    @property
    def random(self) -> np.ndarray:
        """Indices (into this sample) of the randomly drawn digits."""
        return np.flatnonzero(~self.hard)


def read_sample(path: str | os.PathLike | None = None) -> Sample | None:
    """The shipped sample (or the one at ``path``), or None when the file is missing or
    unreadable."""
    path = sample_path() if path is None else path
    try:
        with np.load(path, allow_pickle=False) as f:
            sample = Sample(f["images"], f["labels"], f["indices"], f["hard"].astype(bool))
    except (OSError, KeyError, ValueError):
        return None
    n = len(sample.labels)
    if sample.images.shape != (n, 28, 28) or sample.images.dtype != np.uint8 or n == 0:
        return None
    return sample


def build_sample(images, labels, wrong: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(labels == d), PER_CLASS, replace=False) for d in range(10)]
    )
    hard = np.setdiff1d(np.flatnonzero(wrong), chosen)
    indices = np.concatenate([np.sort(chosen), hard])
    return {
        "images": images[indices],
        "labels": labels[indices],
        "indices": indices.astype(np.int32),
        "hard": np.concatenate([np.zeros(len(chosen), bool), np.ones(len(hard), bool)]),
    }


def main(argv: list[str] | None = None) -> int:
    from lenet.checkpoint import load_checkpoint
    from lenet.data import load_mnist
    from lenet.evaluate import predict

    parser = argparse.ArgumentParser(description="Rebuild models/mnist-sample.npz.")
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--out", default=str(sample_path()))
    args = parser.parse_args(argv)
    images, labels = load_mnist(args.data, "test")
    wrong = np.zeros(len(labels), dtype=bool)
    for path in sorted(models_dir().glob("lenet5-*.safetensors")):
        wrong |= predict(load_checkpoint(path), images) != labels
    arrays = build_sample(images, labels, wrong)
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the sample is shipped
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    print(f"wrote {out}: {len(arrays['labels'])} digits ({int(arrays['hard'].sum())} hard)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
