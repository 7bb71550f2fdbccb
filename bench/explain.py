"""The "Why this digit?" page's computations, server side, per shipped network (lenet.explain
on real MNIST test digits from the shipped sample): saliency (one forward and backward
pass), occlusion with a 4x4 patch and stride 1 (625 positions, one batched forward pass),
and fooling with 50 steps (epsilon 0.01, too small to succeed, so that all 50 steps run:
the worst case), with the app's torch threads.

    python -m bench.explain [--quick] [--calls 100] [--variants classic modern]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import (
    MODELS_DIR,
    VARIANTS,
    Table,
    Target,
    checkpoint_path,
    cli,
    result,
    summary,
    time_calls,
    torch_threads,
)
from bench.latency import app_threads, load_model
from lenet import explain as ex

TITLE = "Why this digit? (server side)"
TARGETS_MS = {"saliency": 5.0, "occlusion": 50.0, "fool": 100.0}
PATCH, STRIDE, FOOL_STEPS, FOOL_EPSILON = 4, 1, 50, 0.01


def digits(models_dir: Path, count: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real test digits of the shipped sample (two of each class) and their
    labels; random pixels when the sample is missing."""
    from lenet.sample import read_sample

    sample = read_sample(Path(models_dir) / "mnist-sample.npz")
    if sample is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (count, 28, 28), np.uint8), rng.integers(0, 10, count)
    chosen = sample.random[:: max(1, len(sample.random) // count)][:count]
    return sample.images[chosen], sample.labels[chosen].astype(int)


def measure(model, images: np.ndarray, labels: np.ndarray, calls: int) -> dict:
    targets = (labels + 1) % 10
    steps_taken = []

    def fool(i: int) -> None:
        fooled = ex.fool(model, images[i], int(targets[i]), FOOL_EPSILON, FOOL_STEPS)
        steps_taken.append(fooled.steps)

    def each(fn, n: int):  # cycling through the digits
        return time_calls(lambda i: fn(i % len(images)), n, cpu=True)

    times = {
        "saliency": each(lambda i: ex.saliency(model, images[i], int(labels[i])), calls),
        "occlusion": each(
            lambda i: ex.occlusion(model, images[i], int(labels[i]), PATCH, STRIDE), calls
        ),
        "fool": each(fool, max(5, calls // 4)),
    }
    out = {k: summary(wall) for k, (wall, _) in times.items()}
    out["cpu"] = {k: summary(cpu) for k, (_, cpu) in times.items()}
    out["fool_steps_median"] = float(np.median(steps_taken))
    return out


def run(
    calls: int = 100,
    variants: tuple[str, ...] = VARIANTS,
    models_dir: Path = MODELS_DIR,
) -> dict:
    """With the app's torch threads (what lenet/ui.py sets)."""
    threads = app_threads()
    images, labels = digits(models_dir)
    per_variant, rows, targets = {}, [], []
    for variant in variants:
        model, source = load_model(variant, checkpoint_path(variant, models_dir))
        with torch_threads(threads):
            r = measure(model, images, labels, calls)
        per_variant[variant] = {"checkpoint": source, **r}
        note = "" if not source.startswith("missing") else "checkpoint missing: untrained weights"
        for part, limit in TARGETS_MS.items():
            targets.append(
                Target(f"{part}, {variant} (median)", r[part]["median_ms"], limit, "ms", note=note)
            )
        rows.append(
            [variant]
            + [
                f"{r[p]['median_ms']:.2f} / {r[p]['p95_ms']:.2f} ({r['cpu'][p]['median_ms']:.2f})"
                for p in TARGETS_MS
            ]
            + [f"{r['fool_steps_median']:.0f}"]
        )
    body = [
        Table(
            [
                "variant",
                "saliency median / p95 (ms)",
                f"occlusion {PATCH}×{PATCH}, stride {STRIDE} (ms)",
                f"fool, {FOOL_STEPS} steps (ms)",
                "fool steps run (median)",
            ],
            rows,
        ),
        "Wall time median / p95 in ms, and in brackets the median CPU time of the process. "
        f"{calls} calls per measurement ({max(5, calls // 4)} for fooling), cycling through "
        f"{len(images)} MNIST test digits of the shipped sample; {threads or 'default'} torch "
        f"thread(s) (what lenet/ui.py sets for the app). Occlusion: "
        f"{((28 - PATCH) // STRIDE + 1) ** 2} positions, every position whose patch covers ink "
        "computed in one batched forward pass (patches on blank pixels reuse the digit's own "
        f"probabilities). Fooling: epsilon {FOOL_EPSILON}, too small to succeed, so all "
        f"{FOOL_STEPS} steps (forward + backward each) run.",
    ]
    return result("explain", TITLE, body, targets, variants=per_variant)


QUICK = {"calls": 20}

if __name__ == "__main__":
    cli(run, QUICK)
