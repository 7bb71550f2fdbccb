"""Evaluate a checkpoint on the MNIST test set.

    python -m lenet.evaluate models/lenet5-classic.safetensors --data data/mnist

Prints accuracy, per-class accuracy and the confusion matrix; exits non-zero when the
checkpoint's model card disagrees with what it measures.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from lenet.model import LeNet5
from lenet.preprocess import pad_unit

# A card and a measurement agree when they differ by at most this many test images.
CARD_TOLERANCE_IMAGES = 2


@torch.inference_mode()
def predict_padded(model: LeNet5, x: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """Predicted classes for padded [0, 1] images (N, 1, 32, 32), as ``pad_unit`` makes
    them (the training loop keeps its test set this way)."""
    model.eval()
    preds = [model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    return torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)


def predict(model: LeNet5, images: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """Predicted classes for uint8 images (N, 28, 28)."""
    if len(images) == 0:
        return np.zeros(0, dtype=np.int64)
    return predict_padded(model, pad_unit(images), batch_size)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, classes: int = 10) -> np.ndarray:
    """Rows are true labels, columns predictions."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), preds.astype(np.int64)), 1)
    return matrix


def summarize(labels: np.ndarray, preds: np.ndarray) -> dict:
    confusion = confusion_matrix(labels, preds)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "test_accuracy": float((labels == preds).mean()) if len(labels) else 0.0,
        "test_images": int(len(labels)),
        "misclassified": int((labels != preds).sum()),
        "per_class_accuracy": [float(a) for a in per_class],
        "confusion_matrix": confusion.tolist(),
    }


def evaluate(model: LeNet5, images: np.ndarray, labels: np.ndarray) -> dict:
    return summarize(labels, predict(model, images))


def format_report(result: dict) -> str:
    lines = [
        f"test accuracy {result['test_accuracy']:.2%} "
        f"({result['misclassified']} of {result['test_images']} misclassified)",
        "per class: "
        + "  ".join(f"{d}:{a:.2%}" for d, a in enumerate(result["per_class_accuracy"])),
        "confusion matrix (rows: true digit, columns: predicted)",
        "      " + "".join(f"{d:>6}" for d in range(10)),
    ]
    for d, row in enumerate(result["confusion_matrix"]):
        lines.append(f"{d:>6}" + "".join(f"{v:>6}" for v in row))
    return "\n".join(lines)


def card_disagreements(card: dict, result: dict) -> list[str]:
    problems = []
    if "test_accuracy" not in card:
        return ["the model card has no test_accuracy"]
    tolerance = CARD_TOLERANCE_IMAGES / max(result["test_images"], 1)
    if abs(card["test_accuracy"] - result["test_accuracy"]) > tolerance:
        problems.append(
            f"card says test accuracy {card['test_accuracy']:.4%}, measured {result['test_accuracy']:.4%}"
        )
    if card.get("test_images") not in (None, result["test_images"]):
        problems.append(
            f"card was measured on {card['test_images']} images, this is {result['test_images']}"
        )
    return problems


def drawn_disagreements(card_drawn: dict, measured: dict) -> list[str]:
    """Where the card's drawn-digit figures differ from a new measurement (more than one
    sample's worth: the set is drawn by a seeded generator, the same every time)."""
    tolerance = 1.0 / max(measured["samples"], 1) + 1e-9
    pairs = [("drawn-digit accuracy", card_drawn.get("accuracy"), measured["accuracy"])]
    pairs += [
        (f"drawn-digit accuracy, {pen} pen", card_drawn.get("by_pen", {}).get(pen), value)
        for pen, value in measured["by_pen"].items()
    ]
    return [
        f"card says {what} {said if said is None else f'{said:.2%}'}, measured {value:.2%}"
        for what, said, value in pairs
        if said is None or abs(said - value) > tolerance
    ]


def main(argv: list[str] | None = None) -> int:
    from lenet.checkpoint import CheckpointError, load_checkpoint, read_card
    from lenet.data import load_mnist

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    args = parser.parse_args(argv)
    try:
        model = load_checkpoint(args.checkpoint)
        card = read_card(args.checkpoint)
        images, labels = load_mnist(args.data, "test")
    except (CheckpointError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = evaluate(model, images, labels)
    print(f"{args.checkpoint} ({model.config.variant})")
    print(format_report(result))
    problems = card_disagreements(card, result)
    if isinstance(card.get("drawn"), dict):
        from lenet.drawn import PER_GLYPH, card_entry

        said = card["drawn"]
        drawn = card_entry(model, said.get("split", "eval"), said.get("per_glyph", PER_GLYPH))
        by_pen = ", ".join(f"{pen} {a:.2%}" for pen, a in drawn["by_pen"].items())
        print(f"drawn digits ({drawn['split']}): {drawn['accuracy']:.2%} ({by_pen})")
        problems += drawn_disagreements(said, drawn)
    for problem in problems:
        print(f"MISMATCH: {problem}", file=sys.stderr)
    if not problems:
        print("the model card agrees with this measurement")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
