"""Text alternatives (WCAG 2.1, 1.1.1): the sentence that says in words what a chart or an
image shows, so that a screen-reader user gets the answer too. Pure functions: numbers in,
one sentence out, in the language of ``text`` (a translate function such as ``ui.t``, which
reads the ``describe.*`` keys of lenet/i18n)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Text = Callable[..., str]
STEPS = ("crop", "fit20", "centred28", "padded32")  # the draw page's preprocessing images


def prediction(probabilities: np.ndarray, text: Text) -> str:
    """The probabilities chart in words: the digit read, how sure, and the runner-up."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (10,):
        raise ValueError(f"expected 10 probabilities, got shape {p.shape}")
    if p.max() <= 0:
        return text("describe.prediction_none")
    first, second = (int(d) for d in np.argsort(-p, kind="stable")[:2])
    return text(
        "describe.prediction",
        digit=first,
        confidence=p[first],
        second=second,
        second_confidence=p[second],
    )


def feature_maps(layer: str, maps: np.ndarray, text: Text) -> str:
    """A layer's maps (C, H, W) in words: the most and the least active map (by mean)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] < 1:
        raise ValueError(f"expected maps of shape (C, H, W), got {maps.shape}")
    means = maps.mean(axis=(1, 2))
    top, low = int(means.argmax()), int(means.argmin())
    c, h, w = maps.shape
    return text(
        "describe.maps",
        layer=layer,
        count=c,
        h=h,
        w=w,
        top=top,
        top_mean=means[top],
        low=low,
        low_mean=means[low],
    )


def units(layer: str, values: np.ndarray, text: Text) -> str:
    """A layer's units (N,) in words: the most active one and how many are positive."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("expected at least one unit")
    top = int(values.argmax())
    return text(
        "describe.units",
        layer=layer,
        count=values.size,
        top=top,
        value=values[top],
        positive=int((values > 0).sum()),
    )


def matrix(values: np.ndarray, title: str, text: Text) -> str:
    """A matrix chart (a lab's grid or map) in words: its size, its range, and where its
    largest value is (rows and columns counted from 1, as a student counts)."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a non-empty 2-D matrix, got shape {a.shape}")
    finite = np.where(np.isfinite(a), a, -np.inf)
    row, col = np.unravel_index(int(np.argmax(finite)), a.shape)
    return text(
        "describe.matrix", title=title, h=a.shape[0], w=a.shape[1], low=float(np.nanmin(a)),
        high=float(a[row, col]), row=int(row) + 1, col=int(col) + 1,
    )  # fmt: skip


def kernels(weights: np.ndarray, text: Text) -> str:
    """C1's kernels (C, k, k) in words: their weight range and the strongest kernel."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3 or weights.shape[0] < 1:
        raise ValueError(f"expected kernels of shape (C, k, k), got {weights.shape}")
    strength = np.abs(weights).sum(axis=(1, 2))
    return text(
        "describe.kernels",
        count=weights.shape[0],
        h=weights.shape[1],
        w=weights.shape[2],
        low=weights.min(),
        high=weights.max(),
        top=int(strength.argmax()),
    )


LAYER_TITLES = {"c1": "C1", "c3": "C3", "s2": "S2", "s4": "S4", "c5": "C5", "f6": "F6"}


def layer(name: str, activations: dict[str, np.ndarray], c1_kernels: np.ndarray, text: Text) -> str:
    """The sentence for one of the draw page's layer figures (lenet.viz.LAYER_FIGURES)."""
    if name == "kernels":
        return kernels(c1_kernels, text)
    if name not in LAYER_TITLES:
        raise ValueError(f"unknown layer {name!r}")
    values = np.asarray(activations[name])
    if values.ndim == 3:
        return feature_maps(LAYER_TITLES[name], values, text)
    return units(LAYER_TITLES[name], values, text)


def step_image(step: str, image: np.ndarray, text: Text) -> str:
    """The alternative text of one preprocessing image (one of STEPS)."""
    if step not in STEPS:
        raise ValueError(f"unknown preprocessing step {step!r}; choose one of {', '.join(STEPS)}")
    h, w = np.asarray(image).shape[:2]
    return text(f"describe.step_{step}", n=STEPS.index(step) + 1, h=h, w=w)


def mistake_image(index: int, label: int, predicted: int, confidence: float, text: Text) -> str:
    """The alternative text of a misread test digit in the model card's gallery."""
    return text(
        "describe.mistake", index=index, label=label, predicted=predicted, confidence=confidence
    )


def digit_image(digit: int, confidence: float, text: Text) -> str:
    """The alternative text of the student's digit as the network sees it (28x28)."""
    return text("describe.digit", digit=digit, confidence=confidence)


# --- The model card's charts --------------------------------------------------------------------


def per_class(accuracies: np.ndarray, text: Text) -> str:
    """The per-digit accuracy bars in words: the hardest and the easiest digit."""
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.ndim != 1 or acc.size == 0:
        raise ValueError(f"expected one accuracy per digit, got shape {acc.shape}")
    worst, best = int(acc.argmin()), int(acc.argmax())
    return text(
        "describe.per_class",
        worst=worst,
        worst_accuracy=acc[worst],
        best=best,
        best_accuracy=acc[best],
    )


def confusion(matrix: np.ndarray, text: Text) -> str:
    """The confusion matrix in words: how many are right, and the most frequent mistake."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"expected a square confusion matrix, got shape {m.shape}")
    wrong = m.copy()
    np.fill_diagonal(wrong, -np.inf)
    true, predicted = np.unravel_index(int(wrong.argmax()), m.shape)
    return text(
        "describe.confusion",
        right=int(np.trace(m)),
        total=int(m.sum()),
        true=int(true),
        predicted=int(predicted),
        count=int(m[true, predicted]),
    )


def loss_curve(epochs: list[int], losses: list[float], text: Text) -> str:
    """The training-loss curve in words: where it starts and where it ends."""
    if not epochs or len(epochs) != len(losses):
        raise ValueError("expected one loss per epoch")
    return text(
        "describe.loss_curve",
        first_epoch=epochs[0],
        first=losses[0],
        last_epoch=epochs[-1],
        last=losses[-1],
    )


def accuracy_curve(epochs: list[int], accuracies: list[float], text: Text) -> str:
    """The test-accuracy curve in words: the last value and the best one."""
    if not epochs or len(epochs) != len(accuracies):
        raise ValueError("expected one accuracy per epoch")
    best = int(np.argmax(accuracies))
    return text(
        "describe.accuracy_curve",
        last_epoch=epochs[-1],
        last=accuracies[-1],
        best_epoch=epochs[best],
        best=accuracies[best],
    )


def lowest(labels: list[str], values: list[float], text: Text) -> str:
    """A bar chart of errors in words: which bar is lowest."""
    if not labels or len(labels) != len(values):
        raise ValueError("expected one value per label")
    k = int(np.argmin(values))
    return text("describe.lowest_error", name=labels[k], value=values[k])
