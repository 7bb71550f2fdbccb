"""Prediction latency: one canvas (RGBA 280x280) through the whole path the draw page runs
(lenet.preprocess.canvas_steps, then lenet.inference.predict: one forward pass returning
every activation), the preprocessing alone, the bare forward pass, and batch throughput
for evaluation.

    python -m bench.latency [--quick] [--calls 1000] [--profile true]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import (
    DATA_DIR,
    MODELS_DIR,
    ROOT,
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
from bench.report import ms_cells
from lenet.data import load_mnist
from lenet.inference import predict
from lenet.model import LeNet5, LeNetConfig
from lenet.preprocess import canvas_steps, ink_to_steps, rgba_to_ink, to_tensor
from lenet_testkit.digits import STROKES, render

TITLE = "Prediction latency"
TARGET_WHOLE_MS = 2.0
TARGET_PREPROCESS_SHARE = 0.5


def app_threads() -> int | None:
    """The torch thread count the app sets for itself (``torch.set_num_threads(N)`` in
    lenet/ui.py; read from the source, since importing lenet.ui has Streamlit side
    effects), or None when it leaves torch's default."""
    try:
        source = (ROOT / "lenet" / "ui.py").read_text()
    except OSError:
        return None
    match = re.search(r"^\s*torch\.set_num_threads\((\d+)\)", source, re.MULTILINE)
    return int(match.group(1)) if match else None


def load_model(variant: str, path: Path) -> tuple[LeNet5, str]:
    """The checkpoint at ``path``, or untrained weights when it is missing."""
    from lenet.checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(path), str(path)
    except CheckpointError:
        torch.manual_seed(0)
        return LeNet5(LeNetConfig.for_variant(variant)).eval(), "missing: untrained weights"


def time_whole_path(model: LeNet5, canvases: list[np.ndarray], calls: int) -> dict:
    """Per call: canvas_steps, then predict; returns the durations (s) of each part."""
    whole, pre, infer = [], [], []
    for i in range(calls + 20):
        rgba = canvases[i % len(canvases)]
        t0 = time.perf_counter()
        steps = canvas_steps(rgba)
        t1 = time.perf_counter()
        predict(model, steps.centred28)
        t2 = time.perf_counter()
        if i >= 20:  # warm-up
            whole.append(t2 - t0)
            pre.append(t1 - t0)
            infer.append(t2 - t1)
    return {"whole": whole, "preprocess": pre, "predict": infer}


def time_each(fn, args_list: list, calls: int) -> list[float]:
    """Seconds of ``fn`` per call, cycling through ``args_list``, after 20 warm-up calls."""
    return time_calls(lambda i: fn(args_list[i % len(args_list)]), calls, warmup=20)


def breakdown(model: LeNet5, canvases: list[np.ndarray], calls: int) -> dict:
    """Median ms of each piece of the path, each timed on its own."""
    inks = [rgba_to_ink(c) for c in canvases]
    images = [canvas_steps(c).centred28 for c in canvases]
    tensors = [to_tensor(im) for im in images]

    @torch.inference_mode()
    def forward(x):
        return model.activations(x)

    parts = {
        "rgba_to_ink (canvas -> ink map)": time_each(rgba_to_ink, canvases, calls),
        "ink_to_steps (crop, resize, centre)": time_each(ink_to_steps, inks, calls),
        "to_tensor (28x28 uint8 -> 1x1x32x32)": time_each(lambda im: to_tensor(im), images, calls),
        "model.activations (forward pass)": time_each(forward, tensors, calls),
    }
    return {k: summary(v) for k, v in parts.items()}


def compare_threads(model: LeNet5, canvases: list[np.ndarray], calls: int) -> dict:
    """The whole path with torch's default threads and with 1 thread, side by side:
    alternating blocks of calls. A forward pass this small gains little from threads,
    and waking them after idle time costs more on a busy machine."""
    default = torch.get_num_threads()
    settings = {default: [], 1: []}
    block = max(5, calls // 10)
    for _ in range(max(1, calls // block)):
        for threads, out in settings.items():
            with torch_threads(threads):
                out += time_whole_path(model, canvases, block)["whole"]
    return {threads: summary(v) for threads, v in settings.items()}


def profile_path(model: LeNet5, canvases: list[np.ndarray], calls: int = 200) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        steps = canvas_steps(canvases[i % len(canvases)])
        predict(model, steps.centred28)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return "\n".join(lines[start:])


def batch_throughput(model: LeNet5, images: np.ndarray, batch: int, repeats: int) -> float:
    """lenet.evaluate.predict over ``images`` in batches of ``batch``: images/s."""
    from lenet.evaluate import predict as predict_batch

    predict_batch(model, images[:batch], batch_size=batch)
    times = time_calls(lambda i: predict_batch(model, images, batch_size=batch), repeats, 0)
    return len(images) / float(np.median(times))


def run(
    calls: int = 1000,
    variants: tuple[str, ...] = VARIANTS,
    models_dir: Path = MODELS_DIR,
    batch: int = 1000,
    batch_images: np.ndarray | None = None,
    batch_repeats: int = 3,
    profile: bool | None = None,
) -> dict:
    """``profile=None``: profile only when a target is missed. The single-canvas timings run
    with the app's torch threads (what lenet/ui.py sets), batch throughput with torch's
    default. ``batch_images`` replaces the MNIST test images (tests)."""
    default_threads = torch.get_num_threads()
    threads = app_threads() or default_threads
    canvases = [render(d) for d in sorted(STROKES)]
    if batch_images is None:
        batch_images = load_mnist(DATA_DIR, "test")[0]
    per_variant, raw, models = {}, {}, {}
    for variant in variants:
        models[variant], source = load_model(variant, checkpoint_path(variant, models_dir))
        xs = [to_tensor(canvas_steps(c).centred28) for c in canvases]
        with torch_threads(threads):
            raw[variant] = time_whole_path(models[variant], canvases, calls)
            with torch.inference_mode():
                forward = time_each(models[variant].activations, xs, calls)
        per_variant[variant] = {
            "checkpoint": source,
            **{k: summary(raw[variant][k]) for k in ("whole", "preprocess", "predict")},
            "forward": summary(forward),
            "batch_images_per_s": batch_throughput(
                models[variant], batch_images, batch, batch_repeats
            ),
        }
    first_model = next(iter(models.values()))
    targets, share = _targets(per_variant, raw)
    with torch_threads(threads):
        parts = breakdown(first_model, canvases, max(10, calls // 4))
    compared = compare_threads(first_model, canvases, max(10, calls // 2))
    settings = (calls, len(canvases), threads, default_threads, batch)
    body = _body(per_variant, settings, len(batch_images), compared, parts)
    profile_text = None
    if profile or (profile is None and any(t.met is False for t in targets)):
        with torch_threads(threads):
            profile_text = profile_path(first_model, canvases, min(200, calls))
        body += [
            f"Profile of the whole path (cProfile, {min(200, calls)} calls, sorted by own time):",
            f"```\n{profile_text}\n```",
        ]
    return result(
        "latency",
        TITLE,
        body,
        targets,
        variants=per_variant,
        breakdown=parts,
        threads=compared,
        single_threads=threads,
        preprocess_share=share,
        profile=profile_text,
    )


def _targets(per_variant: dict, raw: dict) -> tuple[list[Target], float]:
    """The targets, and the preprocessing's share of the whole path (all variants)."""
    pre_ms = summary([x for t in raw.values() for x in t["preprocess"]])["median_ms"]
    share = pre_ms / summary([x for t in raw.values() for x in t["whole"]])["median_ms"]
    targets = []
    for variant, r in per_variant.items():
        missing = r["checkpoint"].startswith("missing")
        note = "checkpoint missing: untrained weights" if missing else ""
        name = f"whole path, {variant} (median)"
        targets.append(Target(name, r["whole"]["median_ms"], TARGET_WHOLE_MS, "ms", note=note))
    pre_name = "preprocessing (median, all variants)"
    share_name = "preprocessing share of the whole path"
    return targets + [
        Target(pre_name, pre_ms, TARGET_WHOLE_MS / 2, "ms", note="half of the 2 ms budget"),
        Target(share_name, 100 * share, 100 * TARGET_PREPROCESS_SHARE, "%"),
    ], share


def _body(per_variant: dict, settings: tuple, images: int, compared: dict, parts: dict) -> list:
    calls, canvases, threads, default_threads, batch = settings

    def ms(s: dict, digits: int = 2) -> str:
        return " / ".join(ms_cells(s, digits))

    rows = [
        [
            variant,
            *(ms(r[k]) for k in ("whole", "preprocess", "predict")),
            ms(r["forward"], 3),
            f"{r['batch_images_per_s']:,.0f}",
        ]
        for variant, r in per_variant.items()
    ]
    headers = ["variant", "whole path median / p95 (ms)", "canvas_steps (ms)", "predict (ms)"]
    app = " (what lenet/ui.py sets for the app)" if threads == app_threads() else ""
    return [
        Table([*headers, "bare forward (ms)", f"batch {batch} (img/s)"], rows),
        f"{calls} calls per variant, alternating {canvases} drawn digits "
        f"(lenet_testkit.digits.render, 280×280 RGBA); {threads} torch thread(s) for the "
        f"single-canvas timings{app}, {default_threads} (torch's default) for the batch. "
        "The whole path is canvas_steps + predict timed together per call; the bare "
        "forward pass is model.activations on a (1, 1, 32, 32) tensor under inference_mode; "
        f"batch throughput is lenet.evaluate.predict over {images:,} images in "
        f"batches of {batch}.",
        "Torch threads for one canvas (whole path, first variant, alternating blocks):",
        Table(
            ["torch threads", "median (ms)", "p95 (ms)", "n"],
            [[k, *ms_cells(v, 2), v["n"]] for k, v in compared.items()],
        ),
        "Where the time goes (each piece timed on its own, first variant; median / p95 ms):",
        Table(["step", "median", "p95"], [[k, *ms_cells(v, 3)] for k, v in parts.items()]),
    ]


QUICK = {"calls": 100, "batch_repeats": 1}

if __name__ == "__main__":
    cli(run, QUICK)
