"""The shipped checkpoints (models/lenet5-*.safetensors) and the MNIST sample: they load,
their model cards are complete and self-consistent, and they measure what they claim."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lenet.checkpoint import load_checkpoint, read_card
from lenet.data import SHA256
from lenet.evaluate import card_disagreements, evaluate
from lenet.evaluate import predict as evaluate_predictions
from lenet.model import VARIANTS

MODELS = Path(__file__).resolve().parent.parent / "models"
SAMPLE = MODELS / "mnist-sample.npz"
# Accuracy each shipped variant must reach on the full MNIST test set.
MIN_ACCURACY = {"classic": 0.992, "modern": 0.995, "lecun1998": 0.990}
CARD_KEYS = {
    "variant",
    "test_accuracy",
    "per_class_accuracy",
    "confusion_matrix",
    "history",
    "dataset",
    "hyperparameters",
    "versions",
    "train_seconds",
}


def _names() -> list[str]:
    expected = {f"lenet5-{v}.safetensors" for v in VARIANTS}
    found = {p.name for p in MODELS.glob("lenet5-*.safetensors") if ".resume." not in p.name}
    return sorted(expected | found)


def _variant(name: str) -> str:
    return name.removeprefix("lenet5-").removesuffix(".safetensors")


@pytest.fixture(params=_names())
def shipped(request) -> Path:
    path = MODELS / request.param
    if not path.is_file():
        pytest.skip(
            f"not trained yet: {path} (python -m lenet.train --variant {_variant(path.name)})"
        )
    return path


@pytest.fixture(scope="module")
def sample() -> dict[str, np.ndarray]:
    if not SAMPLE.is_file():
        pytest.skip(f"not built yet: {SAMPLE} (make sample)")
    with np.load(SAMPLE, allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def test_only_known_variants_are_shipped():
    assert {_variant(n) for n in _names()} <= set(VARIANTS)


def test_hard_digits_are_the_shipped_checkpoints_mistakes(sample):
    hard = sample["hard"]
    wrong_by_any = np.zeros(hard.sum(), dtype=bool)
    for name in _names():
        preds = evaluate_predictions(load_checkpoint(MODELS / name), sample["images"][hard])
        wrong_by_any |= preds != sample["labels"][hard]
    assert wrong_by_any.all()


def test_no_training_leftovers_in_models():
    leftovers = [p.name for p in MODELS.glob("*.resume.safetensors")]
    leftovers += [p.name for p in MODELS.glob(".*.tmp")]
    assert leftovers == [], "an interrupted training run left these behind"


def test_loads_and_card_is_complete(shipped):
    model = load_checkpoint(shipped)
    card = read_card(shipped)
    assert not model.training
    missing = CARD_KEYS - set(card)
    assert not missing, f"{shipped.name}: the model card lacks {sorted(missing)}"
    assert card["variant"] == model.config.variant == _variant(shipped.name)
    assert card.get("dry_run") is not True, "a dry-run checkpoint must not be shipped"
    assert card["dataset"]["sha256"] == SHA256  # trained and measured on the real MNIST
    assert card["train_seconds"] > 0
    assert {"python", "torch", "numpy"} <= set(card["versions"])
    assert card["hyperparameters"]["epochs"] == len(card["history"])


def test_card_is_self_consistent(shipped):
    card = read_card(shipped)
    confusion = np.array(card["confusion_matrix"])
    assert confusion.shape == (10, 10)
    assert (confusion >= 0).all()
    total = int(confusion.sum())
    assert total == card.get("test_images", 10000) == 10000  # the whole MNIST test set
    assert card["test_accuracy"] == pytest.approx(np.trace(confusion) / total, abs=1e-12)
    per_class = confusion.diagonal() / confusion.sum(axis=1)
    np.testing.assert_allclose(card["per_class_accuracy"], per_class, atol=1e-12)
    if "misclassified" in card:
        assert card["misclassified"] == total - int(np.trace(confusion))
    history = card["history"]
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert history[-1]["test_accuracy"] == card["test_accuracy"]
    assert all(math.isfinite(h["train_loss"]) for h in history)


def test_sample_file(sample):
    images, labels, indices = sample["images"], sample["labels"], sample["indices"]
    assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28)
    assert len(images) == len(labels) == len(indices) > 0
    assert set(np.unique(labels).tolist()) <= set(range(10))
    assert len(np.unique(indices)) == len(indices)
    assert indices.min() >= 0 and indices.max() < 10000


def test_sample_is_from_the_mnist_test_set(sample, mnist_test):
    images, labels = mnist_test
    idx = sample["indices"].astype(np.int64)
    np.testing.assert_array_equal(sample["images"], images[idx])
    np.testing.assert_array_equal(sample["labels"], labels[idx])


def test_accuracy_on_the_sample_is_close_to_the_card(shipped, sample):
    model = load_checkpoint(shipped)
    card = read_card(shipped)
    # Only the randomly drawn digits: the rest of the sample are the hard cases (digits some
    # shipped checkpoint gets wrong), kept for the model card's gallery of mistakes.
    drawn = ~sample["hard"]
    result = evaluate(model, sample["images"][drawn], sample["labels"][drawn])
    n = int(drawn.sum())
    p = card["test_accuracy"]
    # a few percent, or three binomial standard deviations for a small sample
    tolerance = max(0.03, 3 * math.sqrt(p * (1 - p) / n))
    assert abs(result["test_accuracy"] - p) <= tolerance, (result["test_accuracy"], p, n)


@pytest.mark.slow
def test_full_test_set_matches_the_card(shipped, mnist_test):
    images, labels = mnist_test
    model = load_checkpoint(shipped)
    card = read_card(shipped)
    result = evaluate(model, images, labels)
    # the card's rows are the test set's digits, and its matrix is (nearly) what we measure
    confusion = np.array(card["confusion_matrix"])
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=10))
    assert np.abs(confusion - np.array(result["confusion_matrix"])).sum() <= 4
    assert abs(result["misclassified"] - round((1 - card["test_accuracy"]) * len(labels))) <= 2
    assert card_disagreements(card, result) == []
    variant = model.config.variant
    assert result["test_accuracy"] >= MIN_ACCURACY[variant], (variant, result["test_accuracy"])


@pytest.mark.slow
def test_the_plain_call_reads_as_the_card_says(shipped, mnist_test):
    """The one way to call a network, `model(to_tensor(images))`, with no config passed
    anywhere, gives each checkpoint its card's accuracy (the network scales its input)."""
    import torch

    from lenet.preprocess import to_tensor

    images, labels = mnist_test
    model = load_checkpoint(shipped).eval()
    with torch.inference_mode():
        preds = torch.cat(
            [model(to_tensor(images[i : i + 2500])).argmax(1) for i in (0, 2500, 5000, 7500)]
        )
    accuracy = float((preds.numpy() == labels).mean())
    assert abs(accuracy - read_card(shipped)["test_accuracy"]) <= 2 / len(labels)
