"""What the training page shows, computed here so the page stays layout: the settings
from its widgets, the live and final figures of a job, C1's kernels as one small image,
and the comparison with the shipped checkpoint of the nearest preset."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lenet import viz
from lenet.jobs import Job
from lenet.train import PRESETS, TrainSettings

# The widgets' choices (the library's limits are wider for the command line).
LR_CHOICES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1)
BATCH_CHOICES = (16, 32, 64, 128, 256, 512)
TRAIN_SIZES = (1000, 2000, 5000, 10000, 20000, 30000, 60000)
MAX_EPOCHS = 30
DEFAULT_PRESET = "quick"
# The widgets' settings, by the name TrainSettings gives them.
SWITCHES = ("activation", "pooling", "c3_table", "output", "optimizer", "lr", "batch_size")
SWITCHES += ("epochs", "train_size", "augment", "seed")


def widget_values(preset: str) -> dict:
    """A preset's values for the page's widgets (every training digit is 60,000)."""
    settings = PRESETS[preset]
    values = {name: getattr(settings, name) for name in SWITCHES}
    values["train_size"] = settings.train_size or TRAIN_SIZES[-1]
    return values


def settings_from(preset: str, values: dict) -> TrainSettings:
    """The run the widgets describe: the preset's recipe with the widgets' switches."""
    changes = {name: values[name] for name in SWITCHES if name in values}
    if changes.get("train_size") == TRAIN_SIZES[-1]:
        changes["train_size"] = None
    return replace(PRESETS[preset], **changes)


def kernels_image(kernels: np.ndarray, size: int = 60) -> np.ndarray:
    """C1's six 5x5 kernels side by side as one grey uint8 image (mid-grey is 0, white
    the largest positive weight, black the most negative), each about ``size`` px."""
    scale = float(np.abs(kernels).max()) or 1.0
    tiled, _ = viz.mosaic(kernels / scale, cols=len(kernels))
    grey = np.where(np.isnan(tiled), 1.0, (tiled + 1.0) / 2.0)  # gaps white
    width = size * tiled.shape[1] // kernels.shape[-1]  # each 5-pixel kernel ~size px
    return viz.upscale(np.round(grey * 255).astype(np.uint8), width)


def curve_series(jobs_: list[Job], which: str, label) -> dict:
    """{label(job): (epochs, values)} for the live curves of several jobs."""
    out = {}
    for job in jobs_:
        points = list(getattr(job, which))
        if points:
            xs, ys = zip(*points, strict=True)
            out[label(job)] = (xs, ys)
    return out


def curves_figure(jobs_: list[Job], which: str, label, *, title: str, x_label: str, y_label: str):
    return viz.curves_xy(
        curve_series(jobs_, which, label),
        title=title,
        x_label=x_label,
        y_label=y_label,
        percent=which == "heldout_curve",
        markers=which == "heldout_curve",
    )


@dataclass(frozen=True)
class Comparison:
    variant: str  # the shipped checkpoint of the nearest preset
    shipped_accuracy: float
    shipped_epochs: int
    shipped_seconds: float
    own_accuracy: float
    own_seconds: float

    @property
    def gap_points(self) -> float:
        """Percentage points the shipped checkpoint is ahead (negative: behind)."""
        return 100 * (self.shipped_accuracy - self.own_accuracy)


def compare(job: Job, shipped_card: dict | None) -> Comparison | None:
    """The job's result next to the shipped checkpoint of its nearest variant."""
    if job.result is None or not shipped_card or "test_accuracy" not in shipped_card:
        return None
    return Comparison(
        variant=job.model.config.variant if job.model is not None else "",
        shipped_accuracy=float(shipped_card["test_accuracy"]),
        shipped_epochs=len(shipped_card.get("history") or []),
        shipped_seconds=float(shipped_card.get("train_seconds") or 0.0),
        own_accuracy=float(job.result["test_accuracy"]),
        own_seconds=job.elapsed,
    )


def percent(accuracy: float) -> str:
    """The metric's value: "97.84%"."""
    return f"{100 * accuracy:.2f}%"
