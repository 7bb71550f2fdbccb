"""The draw page's server-side rerun after a stroke, without a browser.

1. AppTest: app.py on the draw page with lenet.ui.draw_canvas patched to return a drawn
   digit (tests/digits.render); ``at.run()`` is timed with a different digit each time.
   AppTest reruns the whole script (sidebar, navigation, page), where a stroke in the
   browser reruns only the canvas fragment: an upper bound.
2. The fragment's own work, timed directly: canvas_steps + predict + every figure a
   stroke draws (lenet.viz.layer_figure, as the page) + what st.plotly_chart does to each
   (plotly's figure check and ``plotly.io.to_json(fig, validate=False)``) + the four
   upscaled step images.
3. The bytes of the layer figures one stroke sends (C1, kernels, C3 and the open tab of
   S2/S4/C5/F6) as Streamlit sends them: the JSON spec of each chart, from AppTest's
   protos and built directly (all seven built directly too).

    python -m bench.rerun [--quick] [--reruns 40] [--models models]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import MODELS_DIR, Target, result, skipped, summary, table
from lenet.viz import LAYER_FIGURES
from tests.digits import STROKES, render

TITLE = "Draw page rerun (server side)"
TARGET_MS = 150.0
TARGET_KB = 150.0  # 1 KB = 1000 bytes


# What one stroke builds and sends: the layer figures the page draws with the deeper
# layers' tab on S2 (the default; the other tabs' charts are built when opened).
PER_STROKE = ("c1", "kernels", "c3", "s2")


def build_figures(model, rgba: np.ndarray, lang: str = "en", layers=PER_STROKE) -> dict:
    """What the canvas fragment computes for one drawing, through the page's own figure
    builders (lenet.viz.layer_figure): returns {name: JSON spec} for the probabilities and
    the given layer figures."""
    import plotly.io
    import plotly.tools

    from lenet import viz
    from lenet.i18n import translate
    from lenet.inference import c1_kernels, predict
    from lenet.preprocess import canvas_steps

    def t(key: str, **fields) -> str:
        return translate(key, lang, **fields)

    steps = canvas_steps(rgba)
    r = predict(model, steps.centred28)
    t("draw.predicted", confidence=r.confidence)
    for image in (steps.crop, steps.fit20, steps.centred28, steps.padded32):
        viz.thumbnail(image, 140)
    kernels = c1_kernels(model)
    figures = {
        "probs": viz.probabilities(
            r.probabilities,
            title=t("draw.probs_title"),
            x_label=t("draw.digit"),
            y_label=t("draw.probability"),
        ),
        **{name: viz.layer_figure(name, r.activations, kernels, t) for name in layers},
    }
    # st.plotly_chart: plotly.tools.return_figure_from_figure_or_data, then to_json.
    return {
        name: plotly.io.to_json(
            plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True),
            validate=False,
        )
        for name, fig in figures.items()
    }


def time_fragment(model, canvases: list[np.ndarray], calls: int) -> tuple[dict, dict, dict]:
    """Timed direct fragment work, and the phases of one call (median ms over calls)."""
    import plotly.io

    from lenet import viz
    from lenet.i18n import translate
    from lenet.inference import c1_kernels, predict
    from lenet.preprocess import canvas_steps

    def t(key: str, **fields) -> str:
        return translate(key, "en", **fields)

    totals = []
    for i in range(calls + 3):
        t0 = time.perf_counter()
        specs = build_figures(model, canvases[i % len(canvases)])
        if i >= 3:
            totals.append(time.perf_counter() - t0)
    # Phases, each timed on its own: where the fragment's time goes.
    phases: dict[str, list[float]] = {"canvas_steps + predict": [], "build figures": [],
                                      "figure check + to_json": []}  # fmt: skip
    for i in range(max(3, calls // 2)):
        rgba = canvases[i % len(canvases)]
        t0 = time.perf_counter()
        r = predict(model, canvas_steps(rgba).centred28)
        t1 = time.perf_counter()
        kernels = c1_kernels(model)
        figs = [viz.layer_figure(k, r.activations, kernels, t) for k in PER_STROKE]
        t2 = time.perf_counter()
        for f in figs:
            plotly.io.to_json(f.to_dict(), validate=False)
        t3 = time.perf_counter()
        phases["canvas_steps + predict"].append(t1 - t0)
        phases["build figures"].append(t2 - t1)
        phases["figure check + to_json"].append(t3 - t2)
    sizes = {name: len(spec.encode()) for name, spec in specs.items()}
    return summary(totals), {k: summary(v) for k, v in phases.items()}, sizes


def _patched_app(models_dir: Path | None):
    """Context: lenet.ui.draw_canvas returns ``state['image']``; MODELS_DIR optionally
    replaced. Restores both afterwards."""
    from contextlib import contextmanager

    import lenet.ui

    @contextmanager
    def cm():
        state = {"image": None}
        saved = lenet.ui.draw_canvas, lenet.ui.MODELS_DIR
        lenet.ui.draw_canvas = lambda stroke_width, key, **kw: state["image"]
        if models_dir is not None:
            lenet.ui.MODELS_DIR = Path(models_dir)
        try:
            yield state
        finally:
            lenet.ui.draw_canvas, lenet.ui.MODELS_DIR = saved

    return cm()


def apptest_reruns(
    reruns: int, models_dir: Path | None, canvases: dict[int, np.ndarray], checkpoint: str
):
    from tests.apptest_util import run_page

    digits = sorted(canvases)
    times, wrong, exceptions, spec_sizes = [], 0, 0, {}
    with _patched_app(models_dir) as state:
        state["image"] = canvases[digits[-1]]
        # The checkpoint is chosen up front: left to the sidebar's picker, AppTest loses the
        # choice on the third run when lenet5-classic is missing.
        at = run_page("pages/draw.py", timeout=120, checkpoint=checkpoint)
        at.run()  # warm: model loaded, caches filled
        digit = digits[-1]
        for i in range(reruns):
            digit = digits[i % len(digits)]
            state["image"] = canvases[digit]
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
            if at.exception:
                exceptions += 1
            metrics = [m.value for m in at.metric]
            if str(digit) not in metrics:
                wrong += 1
        for chart in at.get("plotly_chart"):
            key = str(chart.proto.id).rsplit("-", 1)[-1]
            spec_sizes[key] = len(chart.proto.spec.encode())
        model_name = at.session_state["checkpoint"] if "checkpoint" in at.session_state else None
    return times, wrong, exceptions, spec_sizes, model_name, digit


def run(
    reruns: int = 40,
    fragment_calls: int = 40,
    models_dir: Path | None = None,
) -> dict:
    from streamlit.logger import set_log_level

    from lenet.checkpoint import load_checkpoint
    from lenet.ui import DEFAULT_CHECKPOINT

    set_log_level("error")  # "missing ScriptRunContext" warnings from the direct calls

    folder = Path(models_dir or MODELS_DIR)
    names = sorted(p.name for p in folder.glob("*.safetensors"))
    if not names:
        t = [Target("AppTest rerun (median)", None, TARGET_MS, "ms"),
             Target("feature-map figures", None, TARGET_KB, "KB")]  # fmt: skip
        return skipped("rerun", TITLE, f"no checkpoint in {folder}: run `make train`", t)
    name = DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT in names else names[0]
    canvases = {d: render(d) for d in sorted(STROKES)}

    threads = torch.get_num_threads()
    try:  # importing lenet.ui sets the app's torch threads for the whole process
        times, wrong, exceptions, sent, shown, last = apptest_reruns(
            reruns, models_dir, canvases, name
        )
        app_threads = torch.get_num_threads()
        model = load_checkpoint(folder / name)
        fragment, phases, _ = time_fragment(model, list(canvases.values()), fragment_calls)
        # The sizes of the same drawing AppTest showed last, so both columns compare; every
        # layer figure, the tabs' included.
        every = build_figures(model, canvases[last], layers=LAYER_FIGURES)
        built = {k: len(v.encode()) for k, v in every.items()}
    finally:
        torch.set_num_threads(threads)

    apptest = summary(times)
    sent_features = {k: v for k, v in sent.items() if k in LAYER_FIGURES}
    sent_kb = sum(sent_features.values()) / 1000 if sent_features else None
    built_kb = sum(built[k] for k in PER_STROKE) / 1000
    all_kb = sum(built[k] for k in LAYER_FIGURES) / 1000
    kb = sent_kb if sent_kb is not None else built_kb
    targets = [
        Target("AppTest rerun after a stroke (median)", apptest["median_ms"], TARGET_MS, "ms",
               note=f"p95 {apptest['p95_ms']:.0f} ms; whole script"),
        Target("fragment work, direct (median)", fragment["median_ms"], TARGET_MS, "ms",
               note=f"p95 {fragment['p95_ms']:.0f} ms"),
        Target("feature-map figures sent with a stroke (C1, kernels, C3, open tab)", kb,
               TARGET_KB, "KB",
               note=("JSON specs as sent" if sent_kb is not None else "built directly")
               + f"; all seven layer figures {all_kb:.0f} KB"),
    ]  # fmt: skip
    size_rows = [
        [k, f"{sent.get(k, 0):,}" if k in sent else "—", f"{built.get(k, 0):,}"]
        for k in (*LAYER_FIGURES, "probs")
    ]
    size_rows.append(
        ["layer figures of one stroke", "—" if sent_kb is None else f"{sent_kb * 1000:,.0f}",
         f"{built_kb * 1000:,.0f}"]
    )  # fmt: skip
    body = [
        table(
            ["measurement", "median (ms)", "p95 (ms)", "n"],
            [
                [
                    "AppTest `at.run()` (whole script)",
                    f"{apptest['median_ms']:.1f}",
                    f"{apptest['p95_ms']:.1f}",
                    apptest["n"],
                ],
                [
                    "fragment work, direct",
                    f"{fragment['median_ms']:.1f}",
                    f"{fragment['p95_ms']:.1f}",
                    fragment["n"],
                ],
                *[
                    [f"… {k}", f"{v['median_ms']:.1f}", f"{v['p95_ms']:.1f}", v["n"]]
                    for k, v in phases.items()
                ],
            ],
        ),  # fmt: skip
        f"Checkpoint: {shown or name}. Each AppTest rerun draws another digit "
        f"({', '.join(map(str, canvases))} in turn); {wrong} of {len(times)} reruns did not "
        f"show the drawn digit as the prediction, {exceptions} raised an exception. "
        f"Torch threads in the app (as lenet.ui sets them): {app_threads}.",
        "Chart JSON, bytes (1 KB = 1000 bytes). A stroke sends the probabilities, C1, the "
        "kernels, C3 and the open tab of the deeper layers (S2 unless another was opened); "
        "S4, C5 and F6 are built when their tab is opened:\n\n"
        + table(["figure", "as sent (AppTest proto spec)", "built directly"], size_rows),
    ]
    return result(
        "rerun",
        TITLE,
        "\n\n".join(body),
        targets,
        apptest=apptest,
        fragment=fragment,
        phases=phases,
        sent_bytes=sent,
        built_bytes=built,
        feature_kb=kb,
        wrong_predictions=wrong,
        exceptions=exceptions,
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, help="timed AppTest reruns (40; quick 10)")
    parser.add_argument("--calls", type=int, help="direct fragment calls (40; quick 10)")
    parser.add_argument("--models", help="checkpoint folder (default: models/)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    out = run(
        reruns=args.reruns or (10 if args.quick else 40),
        fragment_calls=args.calls or (10 if args.quick else 40),
        models_dir=Path(args.models) if args.models else None,
    )
    print(out["markdown"])
    return out


if __name__ == "__main__":
    main()
