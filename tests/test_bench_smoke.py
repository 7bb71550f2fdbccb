"""Smoke test of the benchmarks (bench/): each non-browser benchmark runs with tiny
settings on synthetic data and untrained checkpoints and returns sane numbers. No timing
is asserted: the benchmarks measure, `make bench` reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench import accuracy, explain, invariance, latency, rerun, train_speed
from bench.common import Target, p95, summary
from bench.report import document, section
from lenet.checkpoint import save_checkpoint
from lenet.model import build_model


def finite_positive(x) -> bool:
    return x is not None and math.isfinite(x) and x > 0


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a busy machine, waking a second one per tiny call is slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A checkpoint folder with untrained classic and lecun1998 models (no modern)."""
    folder = tmp_path_factory.mktemp("models")
    for variant in ("classic", "lecun1998"):
        save_checkpoint(build_model(variant).eval(), folder / f"lenet5-{variant}.safetensors")
    return folder


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (600, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 600, dtype=np.uint8)
    return images[:400], labels[:400], images[400:], labels[400:]


def check_targets(out: dict) -> None:
    assert section(out).startswith("## ")
    for t in out["targets"]:
        assert t["status"] in ("met", "MISSED") or t["measured"] is None


def test_statistics():
    assert p95([1.0] * 19 + [100.0]) == 1.0
    assert p95(list(range(1, 101))) == 95
    s = summary([0.001, 0.002, 0.003])
    assert s["median_ms"] == pytest.approx(2.0) and s["p95_ms"] >= s["median_ms"]
    assert Target("x", 3.0, 2.0, "ms").status == "MISSED"
    assert Target("x", 3.0, 2.0, "×", higher_is_better=True).status == "met"
    assert Target("x", None, 2.0, "ms", unmeasured="missing").status == "missing"


def test_accuracy(models_dir, arrays):
    out = accuracy.run(
        {v: models_dir / f"lenet5-{v}.safetensors" for v in ("classic", "modern", "lecun1998")},
        test_set=arrays[2:],
    )
    check_targets(out)
    assert out["variants"]["modern"]["missing"]
    classic = out["variants"]["classic"]
    assert 0 <= classic["error_pct"] <= 100 and len(classic["per_class_error_pct"]) == 10
    assert classic["test_images"] == 200
    assert "missing" in section(out)


def test_train_speed(arrays):
    out = train_speed.run(
        arrays=arrays,
        device="all",
        batches=2,
        repeats=2,
        eval_every=2,
        race_epochs=1,
        race_limit_s=0.5,
    )
    check_targets(out)
    cpu = out["devices"]["cpu"]
    for key in (
        "ours_images_per_s",
        "baseline_images_per_s",
        "speedup",
        "peak_gflops",
        "fraction_of_peak",
    ):
        assert finite_positive(cpu[key]), key
    assert 400_000 < cpu["forward_macs"] < 440_000  # LeNet-5: ~0.42 M multiply-adds
    assert cpu["race"]["ours"]["history"] and cpu["race"]["baseline"]["history"]
    if "cuda" in out["devices"] and "skipped" in out["devices"]["cuda"]:
        assert "no CUDA device" in section(out)


def test_baseline_dataset_matches_our_input_range(arrays):
    ds = train_speed.PerSampleMNIST(arrays[0], arrays[1], seed=0)
    x, y = ds[0]
    assert tuple(x.shape) == (1, 32, 32) and isinstance(y, int)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0  # the model scales it itself


def test_latency(models_dir):
    out = latency.run(
        calls=20,
        variants=("classic",),
        models_dir=models_dir,
        batch=100,
        batch_images=np.zeros((200, 28, 28), np.uint8),
        batch_repeats=1,
        profile=True,
    )
    check_targets(out)
    r = out["variants"]["classic"]
    for part in ("whole", "preprocess", "predict", "forward"):
        assert finite_positive(r[part]["median_ms"]) and r[part]["p95_ms"] >= r[part]["median_ms"]
    assert finite_positive(r["batch_images_per_s"])
    assert 0 < out["preprocess_share"] < 1
    assert "ncalls" in out["profile"]


def test_explain(models_dir):
    out = explain.run(calls=4, variants=("classic", "modern"), models_dir=models_dir)
    check_targets(out)
    assert len(out["targets"]) == 6
    assert "checkpoint missing" in out["targets"][3]["note"]  # no modern in models_dir
    for r in out["variants"].values():
        for part in explain.TARGETS_MS:
            assert (
                finite_positive(r[part]["median_ms"]) and r[part]["p95_ms"] >= r[part]["median_ms"]
            )


def test_rerun(models_dir):
    out = rerun.run(reruns=3, fragment_calls=3, models_dir=models_dir)
    check_targets(out)
    assert out["exceptions"] == 0
    for s in (out["apptest"], out["fragment"]):
        assert finite_positive(s["median_ms"]) and s["p95_ms"] >= s["median_ms"]
    assert set(out["built_bytes"]) >= set(rerun.LAYER_FIGURES) | {"probs"}
    assert out["plotly_charts"] == 0  # the draw page sends images, not charts
    assert finite_positive(out["feature_kb"])


def test_rerun_without_checkpoints(tmp_path):
    out = rerun.run(reruns=1, fragment_calls=1, models_dir=tmp_path)
    assert "Skipped" in section(out)


def test_invariance(models_dir):
    out = invariance.run(calls=2, class_repeats=1, models_dir=models_dir)
    check_targets(out)
    assert set(out["sweep_one"]) == {"classic", "lecun1998"}  # the checkpoints there
    for s in (out["slider"], out["sweep_three"], out["class_cold"]):
        assert finite_positive(s["median_ms"])
    assert set(out["bytes"]) == {"before", "after", "probabilities", "c1", "c3"}
    assert all(v > 0 for v in out["bytes"].values())


def test_invariance_without_checkpoints(tmp_path):
    assert "Skipped" in section(invariance.run(calls=1, models_dir=tmp_path))


def test_results_page(models_dir, arrays):
    out = accuracy.run({"classic": models_dir / "lenet5-classic.safetensors"}, test_set=arrays[2:])
    info = {
        "cpu": "test CPU",
        "cores": 2,
        "usable_cores": 2,
        "torch_threads": 2,
        "ram_gb": 8.0,
        "load_average": [0.1, 0.2, 0.3],
        "cuda": None,
        "python": "3.11",
        "torch": "2",
    }
    text = document([out], info, "python -m bench.run_all --quick", True, 1.0)
    assert "test CPU" in text and "## Targets" in text and "quick settings" in text
    assert "classic test error" in text


def test_drawn(models_dir):
    """The drawn-digit bench on untrained checkpoints (no modern): its numbers add up."""
    from bench import drawn

    paths = {v: models_dir / f"lenet5-{v}.safetensors" for v in ("classic", "modern", "lecun1998")}
    out = drawn.run(per_glyph=1, checkpoints=paths, shown_errors=3)
    check_targets(out)
    assert set(out["variants"]) == {"classic", "lecun1998"}
    statuses = {t["name"].split()[0]: t["status"] for t in out["targets"]}
    assert statuses["modern"] == "missing"
    for r in out["variants"].values():
        wrong = len(r["errors"])
        assert r["accuracy_pct"] == pytest.approx(100 * (1 - wrong / out["samples"]))
        assert set(r["by_pen"]) == {"thin", "default", "thick"}
        assert all(e["predicted"] != e["digit"] for e in r["errors"])


def test_trace_self_times_by_kind():
    """bench.browser_cost sums the renderer main thread's self time by kind of work: a
    parent's time less its children's, on the thread with the most task time only."""
    from bench.browser_cost import _self_times

    def span(name, ts, dur, tid=1):
        return {"name": name, "ph": "X", "ts": ts, "dur": dur, "pid": 7, "tid": tid}

    events = [
        span("RunTask", 0, 10_000),
        span("FunctionCall", 1_000, 6_000),  # inside the task
        span("Layout", 2_000, 1_000),  # inside the call: not the call's own time
        span("RunTask", 20_000, 4_000),
        span("Paint", 21_000, 2_000),
        span("RunTask", 0, 5_000, tid=2),  # another thread, less busy: left out
        span("FunctionCall", 0, 5_000, tid=2),
        {"name": "FunctionCall", "ph": "B", "ts": 0, "pid": 7, "tid": 1},  # not a span
    ]
    times = _self_times(events)
    assert times == {
        "JavaScript (React, Streamlit, the canvas)": 5.0,
        "style and layout": 1.0,
        "paint and compositing": 2.0,
        "other (the tasks' own time, garbage collection)": 4.0 + 2.0,
    }


def test_cpu_profile_self_time_by_script_file():
    """bench.browser_cost sums a CPU profile's samples by script file, the hash of a
    bundle's name dropped, and leaves out the profiler's own entries ((idle), (program))."""
    from bench.browser_cost import _script_times

    def frame(name, url):
        return {"functionName": name, "url": url}

    profile = {
        "nodes": [
            {"id": 1, "callFrame": frame("(idle)", "")},
            {"id": 2, "callFrame": frame("Ul", "http://h/static/js/react-dom.Dzbslgj4.js")},
            {"id": 3, "callFrame": frame("He", "http://h/static/js/emotion-styled.Dd.js")},
            {"id": 4, "callFrame": frame("(program)", "")},
            {"id": 5, "callFrame": frame("getBoundingClientRect", "")},
        ],
        "samples": [1, 2, 2, 3, 4, 5, 2],
        "timeDeltas": [900, 10, 20, 40, 500, 7, 30],
    }
    assert _script_times(profile) == {
        "react-dom": 60,
        "emotion-styled": 40,
        "(built-in functions)": 7,
    }
