"""The invariance lab's server-side work (pages/invariance.py), without a browser.

1. A slider move: the live fragment's work, timed directly: lenet.invariance.transform with
   new settings, lenet.inference.predict, the before/after thumbnails, the probabilities
   (viz.probabilities_png) and C1's and C3's maps as one PNG each (viz.maps_png); also the
   bytes that sends.
2. A 41-point sweep of one transform (rotation) for one network, and for the three shipped
   networks (lenet.invariance.sweep: one batched forward pass each).
3. The class sweep cold: 11 values x the sample's 300 random test digits x three networks
   (lenet.invariance.class_sweep; the page caches it per transform).
4. AppTest: the whole page (app.py with its sidebar) rerun after the rotation slider
   moves, a different angle each time: an upper bound (the browser reruns only the
   slider's fragment; AppTest reruns everything, the sweeps and the cached class sweep too).

Torch runs on one thread, as the app sets it (lenet/ui.py).

    python -m bench.invariance [--quick] [--calls 40] [--models-dir models]
"""

from __future__ import annotations

import time
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
    skipped,
    summary,
    thumbnail_png,
    time_calls,
    torch_threads,
)

TITLE = "Invariance lab (server side)"
TARGET_SLIDER_MS = 150.0
TARGET_SWEEP_ONE_MS = 30.0
TARGET_SWEEP_THREE_MS = 100.0
TARGET_CLASS_S = 1.0
TARGET_KB = 50.0  # the browser budget of a lab interaction (1 KB = 1000 bytes)
# The settings a student slides through: each call takes the next one.
MOVES = (
    [{"rotate": float(a)} for a in range(-30, 31, 5)]
    + [{"shift": (0, s), "stroke": 1} for s in range(-3, 4)]
    + [{"scale": 0.8, "noise": 0.05 * k, "seed": 1} for k in range(4)]
)


def slider_move(model, digit: np.ndarray, settings: dict) -> dict[str, int]:
    """What the live fragment computes after a slider move; the bytes of what it sends."""
    from lenet import describe, viz
    from lenet import invariance as inv
    from lenet.inference import predict

    moved = inv.transform(digit, **settings)
    r = predict(model, moved)
    sizes = {"before": len(thumbnail_png(digit)), "after": len(thumbnail_png(moved))}
    sizes["probabilities"] = len(viz.probabilities_png(r.probabilities))
    sizes["c1"] = len(viz.maps_png(r.activations["c1"], cols=3, scale=3))
    sizes["c3"] = len(viz.maps_png(r.activations["c3"], cols=4, scale=6))
    for layer in ("c1", "c3"):  # the captions' sentences (the page computes them too)
        describe.feature_maps(layer, r.activations[layer], lambda key, **kw: key)
    return sizes


def apptest_moves(digit: np.ndarray, moves: int) -> tuple[dict, int]:
    """Median ms of AppTest reruns after a rotation slider move; how many raised."""
    from streamlit.logger import set_log_level

    from lenet_testkit.apptest import run_page

    set_log_level("error")
    at = run_page("pages/invariance.py", timeout=120, digit=digit)
    times, exceptions = [], 0
    for i in range(moves):
        at.slider(key="inv_rotate").set_value(float(-30 + 5 * (i % 13)))
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        exceptions += bool(at.exception)
    return summary(times), exceptions


def run(calls: int = 40, class_repeats: int = 3, models_dir: Path | None = None) -> dict:
    from lenet import invariance as inv
    from lenet.checkpoint import load_checkpoint
    from lenet.sample import read_sample

    folder = Path(models_dir or MODELS_DIR)
    paths = [checkpoint_path(v, folder) for v in VARIANTS if checkpoint_path(v, folder).exists()]
    sample = read_sample()
    if not paths or sample is None:
        t = [Target("slider move (median)", None, TARGET_SLIDER_MS, "ms")]
        return skipped("invariance", TITLE, f"no checkpoint in {folder} or no MNIST sample", t)
    with torch_threads(1):
        models = {p.stem.removeprefix("lenet5-"): load_checkpoint(p) for p in paths}
        first = next(iter(models.values()))
        digits = sample.images[sample.random[:: max(1, len(sample.random) // 10)]]
        images, labels = sample.images[sample.random], sample.labels[sample.random]
        sizes = []
        slider = time_calls(
            lambda i: sizes.append(
                slider_move(first, digits[i % len(digits)], MOVES[i % len(MOVES)])
            ),
            calls,
        )
        values = inv.TRANSFORMS["rotate"].values()
        one = {
            name: summary(
                time_calls(
                    lambda i, m=m: inv.sweep(m, digits[i % len(digits)], "rotate", values), calls
                )
            )
            for name, m in models.items()
        }
        three = summary(
            time_calls(
                lambda i: [
                    inv.sweep(m, digits[i % len(digits)], "rotate", values) for m in models.values()
                ],
                calls,
            )
        )
        class_values = inv.TRANSFORMS["rotate"].values(inv.CLASS_SWEEP_POINTS)
        cpu0 = time.process_time()
        cold = summary(
            time_calls(
                lambda i: inv.class_sweep(models, images, labels, "rotate", class_values),
                class_repeats,
                warmup=0,
            )
        )
        cold["cpu_ms"] = (time.process_time() - cpu0) * 1e3 / class_repeats
        apptest = apptest_moves(digits[0], calls) if models_dir is None else None
    return report(summary(slider), sizes, one, three, cold, len(images), len(class_values), apptest)


def report(slider, sizes, one, three, cold, digits, points, apptest=None) -> dict:
    per_part = {k: int(np.median([s[k] for s in sizes])) for k in sizes[0]}
    targets = _targets(slider, sum(per_part.values()) / 1000, one, three, cold, digits, points)
    rows = [["slider move (direct)", slider["median_ms"], slider["p95_ms"], slider["n"]]]
    if apptest is not None:
        app, failed = apptest
        rows.append(
            [
                f"slider move, AppTest whole-page rerun ({failed} raised)",
                app["median_ms"],
                app["p95_ms"],
                app["n"],
            ]
        )
    rows += [[f"41-point sweep, {k}", v["median_ms"], v["p95_ms"], v["n"]] for k, v in one.items()]
    rows += [
        ["41-point sweep, three networks", three["median_ms"], three["p95_ms"], three["n"]],
        ["class sweep, cold", cold["median_ms"], cold["p95_ms"], cold["n"]],
    ]
    note = (
        "The AppTest row reruns the whole page (sidebar, navigation, the three 41-point "
        "sweeps, the cached class sweep, the equivariance section): an upper bound. In the "
        "browser a slider move reruns only the controls' fragment, timed directly above."
    )
    body = [
        Table(
            ["measurement", "median (ms)", "p95 (ms)", "n"],
            [[r[0], f"{r[1]:.1f}", f"{r[2]:.1f}", r[3]] for r in rows],
        ),
        note,
        "Bytes of one slider move (median): "
        + ", ".join(f"{k} {v:,}" for k, v in per_part.items())
        + ".",
    ]
    return result(
        "invariance",
        TITLE,
        body,
        targets,
        slider=slider,
        sweep_one=one,
        sweep_three=three,
        class_cold=cold,
        bytes=per_part,
    )


def _targets(slider, kb, one, three, cold, digits, points) -> list[Target]:
    slowest = max(one, key=lambda k: one[k]["median_ms"])
    return [
        Target(
            "slider move: new prediction + maps (median)",
            slider["median_ms"],
            TARGET_SLIDER_MS,
            "ms",
            note=f"p95 {slider['p95_ms']:.0f} ms; direct fragment work",
        ),
        Target(
            "bytes a slider move sends (images + chart)",
            kb,
            TARGET_KB,
            "KB",
            note="thumbnails, probabilities, C1 and C3, all PNG",
        ),
        Target(
            "41-point sweep, one network (slowest median)",
            one[slowest]["median_ms"],
            TARGET_SWEEP_ONE_MS,
            "ms",
            note=slowest,
        ),
        Target(
            "41-point sweep, three networks (median)",
            three["median_ms"],
            TARGET_SWEEP_THREE_MS,
            "ms",
            note=f"p95 {three['p95_ms']:.0f} ms",
        ),
        Target(
            "class sweep, cold (median)",
            cold["median_ms"] / 1000,
            TARGET_CLASS_S,
            "s",
            note=f"{points} values x {digits} digits x three networks; CPU time "
            f"{cold['cpu_ms'] / 1000:.2f} s (wall time includes waiting for a busy CPU)",
        ),
    ]


QUICK = {"calls": 10, "class_repeats": 1}

if __name__ == "__main__":
    cli(run, QUICK)
