"""Model cards, summarised for the model-card page: a checkpoint's card (written by
``lenet.train.make_card``) turned into the numbers, tables and gallery the page shows, and
the paper's results to compare them with.

Cards come from files: every reader here checks what it gets and returns None for a part
that is missing or malformed, so that one bad field never hides the rest of a card.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lenet.model import VARIANTS, LeNet5
from lenet.preprocess import to_tensor

# LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied to Document
# Recognition", Proc. IEEE 86(11), 1998, section III.C: LeNet-5's error on the MNIST test
# set, trained on the regular training set and with artificially distorted training images.
PAPER_TEST_ERROR = 0.0095
PAPER_TEST_ERROR_DISTORTED = 0.008
PAPER_ROWS = {"paper": PAPER_TEST_ERROR, "paper_distorted": PAPER_TEST_ERROR_DISTORTED}

CLASSES = 10
DIGITS = tuple(str(d) for d in range(CLASSES))
GALLERY_SIZE = 24  # misclassified digits shown at most
GALLERY_COLUMNS = 8
# What the card's "hyperparameters" usually hold, in the order the page lists them.
HYPERPARAMETERS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "label_smoothing",
    "optimizer",
    "augment",
    "distort",
    "loss",
)


# What the training command writes into a card to describe the optimiser, the loss and the
# RBF prototypes: structured fields (a kind and its settings), which the model-card page
# shows through its catalogue (model_card.text.*) in the reader's language.
OPTIMIZER = {"kind": "adamw", "schedule": "one-cycle"}
OPTIMIZER_SGD = {"kind": "sgd-nesterov", "momentum": 0.9, "schedule": "one-cycle"}
LOSS_SOFTMAX = {"kind": "softmax-cross-entropy"}
PROTOTYPES = {"kind": "seeded-pm1", "seed": 1998}
PAPER_PROTOTYPES = {"kind": "paper-bitmaps"}  # lenet.prototypes: the paper's 7x12 digits


def prototypes_card(config) -> dict | None:
    """The card's description of a model's RBF prototypes; None without an RBF output."""
    if config.output != "rbf":
        return None
    return PAPER_PROTOTYPES if config.prototypes == "paper" else PROTOTYPES


def loss_rbf(temperature: float) -> dict:
    return {"kind": "rbf-cross-entropy", "temperature": float(temperature)}


# Cards written before these fields were structured hold English sentences instead; the
# ones the training command wrote (the shipped cards among them) are read as the same
# fields, any other text is shown as written.
LEGACY_TEXT = {
    "AdamW, one-cycle (warm-up + cosine) learning rate": OPTIMIZER,
    "cross-entropy over softmax": LOSS_SOFTMAX,
    "cross-entropy over the negative RBF distances / 8 (the paper's MAP criterion without "
    "its rubbish-class term, at a temperature)": loss_rbf(8.0),
    "fixed +-1 codes drawn from a seeded generator (seed 1998), not the paper's 7x12 "
    "bitmaps": PROTOTYPES,
}
_CATALOGUE = {
    "adamw": "model_card.text.optimizer",
    "sgd-nesterov": "model_card.text.optimizer_sgd",
    "softmax-cross-entropy": "model_card.text.loss_softmax",
    "rbf-cross-entropy": "model_card.text.loss_rbf",
    "seeded-pm1": "model_card.text.prototypes",
    "paper-bitmaps": "model_card.text.prototypes_paper",
}


def described(value) -> tuple[str, dict] | None:
    """(catalogue key, fields) for a description the training command writes (a structured
    field, or the sentence an older card holds); None for anything else, which the page
    shows as written."""
    if isinstance(value, str):
        value = LEGACY_TEXT.get(value)
    if not isinstance(value, dict) or value.get("kind") not in _CATALOGUE:
        return None
    key = _CATALOGUE[value["kind"]]
    if value["kind"] != "rbf-cross-entropy":
        return key, {}
    temperature = _number(value.get("temperature"), 0.0)
    if temperature is None or temperature <= 0:
        return None
    return key, {"temperature": f"{temperature:g}"}


def _number(value, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and lo <= value <= hi else None


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    accuracy: float
    test_images: int | None
    misclassified: int | None

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


def accuracy(card: dict | None) -> Accuracy | None:
    """Test accuracy, images and mistakes, or None when the card has no usable accuracy."""
    if not isinstance(card, dict):
        return None
    acc = _number(card.get("test_accuracy"), 0.0, 1.0)
    if acc is None:
        return None
    images = _number(card.get("test_images"), 1)
    wrong = _number(card.get("misclassified"), 0)
    return Accuracy(
        acc, None if images is None else int(images), None if wrong is None else int(wrong)
    )


def per_class_accuracy(card: dict | None) -> np.ndarray | None:
    """The 10 per-digit accuracies, or None."""
    try:
        values = np.asarray(card["per_class_accuracy"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if values.shape != (CLASSES,) or not np.all((values >= 0) & (values <= 1)):
        return None
    return values


def confusion_matrix(card: dict | None) -> np.ndarray | None:
    """The 10x10 confusion matrix (rows: true digit, columns: predicted), or None."""
    try:
        values = np.asarray(card["confusion_matrix"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if values.shape != (CLASSES, CLASSES) or not np.all(np.isfinite(values)):
        return None
    if np.any(values < 0) or np.any(values != np.round(values)):
        return None
    return values.astype(np.int64)


@dataclass(frozen=True)
class History:
    epochs: list[int]
    train_loss: list[float]
    test_accuracy: list[float]


def history(card: dict | None) -> History | None:
    """Per-epoch train loss and test accuracy, or None when the card has no usable history."""
    rows = card.get("history") if isinstance(card, dict) else None
    if not isinstance(rows, list) or not rows:
        return None
    epochs, losses, accuracies = [], [], []
    for row in rows:
        if not isinstance(row, dict):
            return None
        epoch, loss = _number(row.get("epoch")), _number(row.get("train_loss"))
        acc = _number(row.get("test_accuracy"), 0.0, 1.0)
        if epoch is None or loss is None or acc is None:
            return None
        epochs.append(int(epoch))
        losses.append(loss)
        accuracies.append(acc)
    return History(epochs, losses, accuracies)


# ---------------------------------------------------------------------------------------------
# The variants next to the paper
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonRow:
    source: str  # "paper", "paper_distorted" or "checkpoint"
    name: str  # the checkpoint's file name, "" for the paper's rows
    variant: str  # "" for the paper's rows
    error: float | None  # test error; None when the checkpoint has no readable card
    accuracy: Accuracy | None

    @property
    def test_accuracy(self) -> float | None:
        return None if self.error is None else 1.0 - self.error


def comparison(cards: dict[str, dict | None], variants: dict[str, str]) -> list[ComparisonRow]:
    """The paper's two results, then one row per checkpoint (file name -> card or None;
    file name -> the variant its config holds)."""
    rows = [ComparisonRow(source, "", "", error, None) for source, error in PAPER_ROWS.items()]
    for name, card in cards.items():
        acc = accuracy(card)
        error = None if acc is None else acc.error
        rows.append(ComparisonRow("checkpoint", name, variants[name], error, acc))
    return rows


def missing_variants(variants: dict[str, str]) -> list[str]:
    """The variants no checkpoint holds yet (file name -> variant)."""
    present = set(variants.values())
    return [v for v in VARIANTS if v not in present]


# ---------------------------------------------------------------------------------------------
# How it was trained
# ---------------------------------------------------------------------------------------------


def format_value(value) -> str:
    """A card value as short text: 0.003 (not 3e-03), 128, ✓ / ✗ for booleans."""
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.1e}"
    if value is None:
        return "—"
    return str(value)


def hyperparameters(card: dict | None, describe=None) -> list[tuple[str, str]]:
    """(name, value) pairs, the usual names first in HYPERPARAMETERS order, then any other.
    ``describe(value)`` gives the text of a described value (see ``described``), or None."""
    values = card.get("hyperparameters") if isinstance(card, dict) else None
    if not isinstance(values, dict):
        return []
    order = [k for k in HYPERPARAMETERS if k in values] + sorted(
        k for k in values if k not in HYPERPARAMETERS
    )
    shown = [(k, describe(values[k]) if describe else None) for k in order]
    return [(k, text if text is not None else format_value(values[k])) for k, text in shown]


def run_facts(card: dict | None) -> list[tuple[str, str]]:
    """(key, value) of the training run's facts the card holds: epochs trained, seed, device."""
    if not isinstance(card, dict):
        return []
    keys = ("epochs_trained", "seed", "device")
    return [(k, format_value(card[k])) for k in keys if card.get(k) is not None]


def checksums(card: dict | None) -> list[tuple[str, str]]:
    """(file, sha256) of the data set the checkpoint was trained and tested on."""
    dataset = card.get("dataset") if isinstance(card, dict) else None
    sha = dataset.get("sha256") if isinstance(dataset, dict) else None
    if not isinstance(sha, dict):
        return []
    return [(str(k), str(v)) for k, v in sorted(sha.items())]


def versions(card: dict | None) -> list[tuple[str, str]]:
    values = card.get("versions") if isinstance(card, dict) else None
    if not isinstance(values, dict):
        return []
    return [(str(k), str(v)) for k, v in values.items()]


def minutes_seconds(seconds) -> tuple[int, int] | None:
    """A duration in whole minutes and seconds, or None if it is not a duration."""
    seconds = _number(seconds, 0.0)
    if seconds is None:
        return None
    minutes, rest = divmod(round(seconds), 60)
    return int(minutes), int(rest)


# ---------------------------------------------------------------------------------------------
# Gallery of mistakes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    index: int  # in the images given
    label: int  # the true digit
    predicted: int  # what the network said
    confidence: float  # its softmax probability for what it said
    image: np.ndarray  # (28, 28) uint8


@torch.inference_mode()
def mistakes(
    model: LeNet5, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000
) -> list[Mistake]:
    """Every image the model gets wrong, most confident mistake first. Predicted classes are
    ``lenet.evaluate.predict``'s (the argmax of the outputs); confidences are softmax
    probabilities, as on the draw page."""
    model.eval()
    probs = [
        F.softmax(model(to_tensor(images[i : i + batch_size])), dim=1)
        for i in range(0, len(images), batch_size)
    ]
    if not probs:
        return []
    probs = torch.cat(probs).numpy()
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    found = [
        Mistake(int(i), int(labels[i]), int(predicted[i]), float(probs[i, predicted[i]]), images[i])
        for i in wrong
    ]
    return sorted(found, key=lambda m: (-m.confidence, m.index))


@dataclass(frozen=True)
class DrawnMistake:
    source: str  # a hand of lenet.drawn or a font
    label: int
    predicted: int
    pen: str  # thin | default | thick
    image: np.ndarray  # (28, 28) uint8, as the network saw it


@dataclass(frozen=True)
class Drawn:
    split: str
    samples: int
    accuracy: float
    by_pen: dict[str, float]
    mistakes: list[DrawnMistake]
    errors: int


def drawn(card: dict | None) -> Drawn | None:
    """The card's drawn-digit figures (lenet.drawn.card_entry); None when it has none or
    they do not read as such."""
    entry = (card or {}).get("drawn")
    if not isinstance(entry, dict):
        return None
    accuracy = _number(entry.get("accuracy"), 0.0, 1.0)
    by_pen = entry.get("by_pen")
    errors = entry.get("errors")
    if accuracy is None or not isinstance(by_pen, dict) or not isinstance(errors, list):
        return None
    pens = {str(k): v for k, v in by_pen.items() if _number(v, 0.0, 1.0) is not None}
    found = []
    for e in errors:
        try:
            image = np.frombuffer(base64.b64decode(e["image"]), dtype=np.uint8)
            found.append(
                DrawnMistake(str(e["source"]), int(e["digit"]), int(e["predicted"]),
                             str(e["pen"]), image.reshape(28, 28).copy())
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue  # an error without its picture is counted, not shown
    split, samples = str(entry.get("split", "eval")), int(_number(entry.get("samples"), 0) or 0)
    return Drawn(split, samples, accuracy, pens, found, len(errors))
