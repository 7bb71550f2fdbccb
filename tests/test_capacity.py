"""bench/capacity.py without a browser: the queue model's knee, the server CPU reading,
and the class sizing it reports (the browser run itself is `python -m bench.capacity`)."""

from __future__ import annotations

import math
import os
import time

import pytest

from bench import capacity
from bench.common import Target
from bench.report import section


@pytest.mark.parametrize("s, o", [(0.08, 0.3), (0.2, 0.1), (0.01, 1.0)])
def test_knee_is_where_the_p95_reaches_the_target(s, o):
    rate = capacity.knee(s, o)
    rho = rate * s
    assert 0 < rho < 1
    p95 = o + math.log(20) * s / (1 - rho)  # M/M/1 sojourn time's 95th percentile
    assert p95 == pytest.approx(capacity.TARGET_P95_S)
    assert capacity.knee(s * 1.5, o) < rate  # dearer strokes: fewer per second


def test_no_capacity_when_an_idle_server_misses_the_target():
    assert capacity.knee(0.1, 1.6) == 0.0
    assert capacity.knee(0.6, 0.0) == 0.0  # ln(20) * 0.6 s > 1.5 s


def test_server_cpu_counts_this_process():
    before, t0 = capacity.server_cpu_s(os.getpid()), os.times()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = (os.times().user - t0.user) + (os.times().system - t0.system)
    assert capacity.server_cpu_s(os.getpid()) - before == pytest.approx(spent, abs=0.05)


def test_report_sizes_classes_from_the_knee():
    phases = [
        {"look_s": 5.0, "latencies": [0.4, 0.5, 0.6, 0.7], "elapsed_s": 20.0, "server_cpu_s": 0.4},
        {"look_s": 0.0, "latencies": [0.5] * 16, "elapsed_s": 20.0, "server_cpu_s": 1.6},
    ]
    targets = [Target("p95", None, 1500, "ms")]
    out = capacity._report(4, 20, phases, [], (1, 1, 1), (2, 2, 2), {0}, {1}, targets, 0.12)
    s = 2.0 / 20  # server CPU per stroke
    per_core = capacity.knee(s, 0.4 - s)
    assert out["per_core"] == pytest.approx(per_core)
    for n in capacity.CLASS_SIZES:
        assert f"| {n:,} | {n * 0.12:.1f} | {math.ceil(n * 0.12 / per_core)} |" in section(out)
    assert out["targets"][0]["status"] == "met"


def test_share_rows_put_the_model_beside_the_measurement():
    """With the server held to a share of its core, the model's p95 at the knee's own
    rate is the target, and the measured side is read from the phases."""
    share, cpu, overhead = 0.25, 0.075, 0.17
    rate = capacity.knee(cpu / share, overhead)
    phase = {"look_s": 1.0, "latencies": [0.5] * 19 + [2.5], "elapsed_s": 20 / rate}
    rows = dict(capacity._share_rows([{**phase, "server_cpu_s": 0}], share, cpu, overhead))
    assert rows["model knee at that share"] == f"{rate:.2f} strokes/s"
    assert rows["p95 (ms) at each phase's rate: measured / model"] == f"{rate:.2f}/s: 500 / 1500"
    assert rows["measured at that share"].startswith(f"p95 ≤ 1.5 s up to {rate:.2f} /s")
