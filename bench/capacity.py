"""Capacity of one replica: the server pinned to one core, the Chromium tabs to the others
(``taskset``), N sessions drawing through phases of falling look times (a rising stroke
rate). Per phase: strokes per second, mouse-up -> prediction p50 / p95, and the server's
own CPU time per stroke (/proc/PID/stat), so the server is measured apart from the
browsers.

The tabs need about 1 s of CPU per digit, so on a 2-core machine the browsers' core runs
out long before the server's: the phases then cannot push one replica past its target.
The stroke rate at which its p95 passes 1.5 s is then computed from what was measured,
with a queue model (see ``knee``), and said to be so. On a machine with more cores, give
the tabs more (``--client-cores``) and the measured phases reach the knee themselves.

    python -m bench.capacity [--quick] [--sessions 8] [--seconds 40] [--looks 5,2,1,0]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import (
    Server,
    Target,
    app_checkpoint_missing,
    chromium_missing,
    result,
    skipped,
    summary,
)
from bench.load import open_page, session
from bench.report import section, table

TITLE = "Capacity: one replica on one core"
TARGET_P95_S = 1.5
CLASS_SIZES = (30, 300, 3000)
# One student's strokes per second when a class draws: bench/RESULTS.md's load run, 10
# sessions that each look 5 s at a result, 1.2 predictions/s in all. (This bench's own
# look-5 phase is shown beside it; on a loaded machine its browsers draw slower.)
STUDENT_RATE = 0.12
SERVER_BOUND = 0.8  # a phase whose server core was this busy measured the server itself
REPLICA_RSS_GB = 0.4  # bench/RESULTS.md: ~380 MB with 10 sessions
# tail factor of the M/M/1 response time: P(T > t) = exp(-t (1 - rho) / s), so the 95th
# percentile is ln(20) s / (1 - rho)
P95_FACTOR = math.log(20)


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(server: Server, cores: set[int]) -> None:
    """Every thread of the running server onto ``cores`` (threads it starts later inherit)."""
    spec = ",".join(map(str, sorted(cores)))
    subprocess.run(
        ["taskset", "-a", "-p", "-c", spec, str(server.proc.pid)], check=True, capture_output=True
    )


def knee(cpu_per_stroke_s: float, overhead_s: float, target_s: float = TARGET_P95_S) -> float:
    """Strokes per second at which the p95 passes ``target_s`` for one core serving
    strokes of ``cpu_per_stroke_s`` each (M/M/1: random arrivals, exponential service,
    a pessimistic tail for nearly constant predictions), plus ``overhead_s`` that does not
    queue on the server (browser drawing and rendering, network). 0 when even an idle
    server misses the target."""
    room = target_s - overhead_s
    if room <= P95_FACTOR * cpu_per_stroke_s:
        return 0.0
    rho = 1 - P95_FACTOR * cpu_per_stroke_s / room
    return rho / cpu_per_stroke_s


@contextmanager
def cpu_share(pid: int, share: float, period_us: int = 20_000):
    """The process (all its threads) held to ``share`` of one core: a cgroup v1 ``cpu``
    controller group with a CFS quota (needs root); moved back and removed afterwards."""
    root = Path("/sys/fs/cgroup/cpu")
    line = next(
        x
        for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        if x.split(":")[1].split(",").count("cpu")
    )
    home = root / line.split(":", 2)[2].lstrip("/")
    group = root / f"lenet-capacity-{pid}"
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(round(share * period_us)))
        (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        try:
            (home / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass  # it has exited
        group.rmdir()


async def _phases(server: Server, sessions: int, seconds: float, looks: list[float]) -> dict:
    from playwright.async_api import async_playwright

    from lenet_testkit.browser import CHROMIUM_ARGS, chromium_path

    out: dict = {"errors": [], "contexts": [], "phases": []}
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            pages = await asyncio.gather(
                *(open_page(i, b, server.url, out) for i in range(sessions))
            )
            warm: set[int] = set()
            for k, look in enumerate([1.0, *looks]):  # phase 0 warms every tab up: not kept
                phase = {"look_s": look, "latencies": [], "warm_latencies": [], "correct": 0}
                cpu0, t0 = server_cpu_s(server.proc.pid), time.monotonic()
                end = t0 + (seconds if k else 8.0)
                await asyncio.gather(
                    *(
                        session(i, pg, end, look, look * i / sessions, phase, out["errors"], warm)
                        for i, pg in enumerate(pages)
                        if pg is not None
                    )
                )
                phase["elapsed_s"] = time.monotonic() - t0
                phase["server_cpu_s"] = server_cpu_s(server.proc.pid) - cpu0
                if k:
                    out["phases"].append(phase)
            for context in out.pop("contexts"):
                await context.close()
        finally:
            await b.close()
    return out


def _phase_row(ph: dict) -> list:
    n = len(ph["latencies"])
    s = summary(ph["latencies"]) if n else None
    rate = n / max(ph["elapsed_s"], 1e-9)
    cpu = ph["server_cpu_s"] / n if n else float("nan")
    return [
        f"{ph['look_s']:g} s",
        n,
        f"{rate:.2f}",
        f"{s['median_ms']:.0f} / {s['p95_ms']:.0f}" if s else "—",
        f"{100 * ph['server_cpu_s'] / ph['elapsed_s']:.0f}%",
        f"{1000 * cpu:.0f}",
    ]


def _share_rows(phases: list[dict], share: float, cpu_per_stroke: float, overhead: float):
    """With the server held to a share of its core: the knee the model predicts there,
    beside the rates between which the measured p95 passed the target."""
    if share >= 1:
        return []
    rates = sorted(
        (len(ph["latencies"]) / ph["elapsed_s"], summary(ph["latencies"])["p95_ms"])
        for ph in phases
    )
    below = [r for r, p in rates if p <= TARGET_P95_S * 1000]
    above = [r for r, p in rates if p > TARGET_P95_S * 1000]
    measured = (
        f"p95 ≤ 1.5 s up to {max(below):.2f} /s" if below else "p95 > 1.5 s at every rate"
    ) + (f"; > 1.5 s from {min(above):.2f} /s" if above else "; never passed 1.5 s")
    s_wall = cpu_per_stroke / share

    def model_p95(rate: float) -> str:
        rho = rate * s_wall
        return f"{1000 * (overhead + P95_FACTOR * s_wall / (1 - rho)):.0f}" if rho < 1 else "∞"

    return [
        ["server held to (CFS quota) of its core", f"{100 * share:.0f}%"],
        [
            "p95 (ms) at each phase's rate: measured / model",
            "; ".join(f"{r:.2f}/s: {p:.0f} / {model_p95(r)}" for r, p in rates),
        ],
        ["model knee at that share", f"{knee(cpu_per_stroke / share, overhead):.2f} strokes/s"],
        ["measured at that share", measured],
    ]


def run(
    sessions: int = 8,
    seconds: float = 40.0,
    looks: tuple[float, ...] = (5.0, 2.0, 1.0, 0.0),
    server_cores: set[int] | None = None,
    client_cores: set[int] | None = None,
    student_rate: float = STUDENT_RATE,
    share: float = 1.0,
) -> dict:
    """``share`` < 1 holds the server to that share of its core (``cpu_share``): a slower
    server whose knee the browsers can reach, to check the queue model against it."""
    targets = [
        Target(
            f"p95 mouse-up → prediction, {sessions} sessions as a class, server on one core",
            None,
            TARGET_P95_S * 1000,
            "ms",
        )
    ]
    why = chromium_missing() or app_checkpoint_missing()
    cores = sorted(os.sched_getaffinity(0))
    if not why and len(cores) < 2:
        why = "needs two cores: one for the server, the rest for the browsers"
    if why:
        return skipped("capacity", TITLE, why, targets)
    server_cores = server_cores or {cores[0]}
    client_cores = client_cores or set(cores) - server_cores
    load_before = os.getloadavg()
    os.sched_setaffinity(0, client_cores)  # this process, Playwright and Chromium
    try:
        with Server() as server:
            pin(server, server_cores)
            if share < 1:
                with cpu_share(server.proc.pid, share):
                    out = asyncio.run(_phases(server, sessions, seconds, list(looks)))
            else:
                out = asyncio.run(_phases(server, sessions, seconds, list(looks)))
    finally:
        os.sched_setaffinity(0, set(cores))
    load_after = os.getloadavg()
    phases = [ph for ph in out["phases"] if ph["latencies"]]
    return _report(
        sessions,
        seconds,
        phases,
        out["errors"],
        load_before,
        load_after,
        server_cores,
        client_cores,
        targets,
        student_rate,
        share,
    )


def _report(
    sessions,
    seconds,
    phases,
    errors,
    load_before,
    load_after,
    server_cores,
    client_cores,
    targets,
    student_rate,
    share=1.0,
) -> dict:
    all_lat = [x for ph in phases for x in ph["latencies"]]
    strokes = len(all_lat)
    cpu_per_stroke = sum(ph["server_cpu_s"] for ph in phases) / max(strokes, 1)
    fastest = min(all_lat) if all_lat else float("nan")
    # the part of an idle stroke not spent on the server (which runs at `share` of a core)
    overhead = max(fastest - cpu_per_stroke / share, 0.0)
    measured_ok = [
        len(ph["latencies"]) / ph["elapsed_s"]
        for ph in phases
        if summary(ph["latencies"])["p95_ms"] <= TARGET_P95_S * 1000
    ]
    # a phase past the target with the server's core mostly idle was held up by the
    # browsers (their core), not by the server: it says nothing about the server's knee
    server_bound = [
        ph
        for ph in phases
        if summary(ph["latencies"])["p95_ms"] > TARGET_P95_S * 1000
        and ph["server_cpu_s"] / ph["elapsed_s"] >= SERVER_BOUND * share
    ]
    per_core = knee(cpu_per_stroke, overhead)
    targets[0].measured = summary(phases[0]["latencies"])["p95_ms"]
    targets[0].note = f"look {phases[0]['look_s']:g} s; knee of one replica: " + (
        f"{per_core:.1f} strokes/s (queue model)"
        if not server_bound
        else f"reached (measured) at {len(server_bound[0]['latencies']) / server_bound[0]['elapsed_s']:.1f} strokes/s"
    )
    measured_student = len(phases[0]["latencies"]) / phases[0]["elapsed_s"] / sessions
    sizes = []
    for n in CLASS_SIZES:
        replicas = math.ceil(n * student_rate / per_core) if per_core else None
        memory = f"{replicas * REPLICA_RSS_GB:.1f} GB" if replicas else "—"
        sizes.append([n, f"{n * student_rate:.1f}", replicas or "—", memory])
    body = table(
        [
            "look",
            "strokes",
            "strokes/s",
            "p50 / p95 (ms)",
            "server core busy",
            "server CPU ms/stroke",
        ],
        [_phase_row(ph) for ph in phases],
    )
    body += "\n\n" + table(
        ["", "value"],
        [
            ["sessions (Chromium tabs)", sessions],
            ["drawing time per phase", f"{seconds:.0f} s"],
            ["server cores / browser cores", f"{sorted(server_cores)} / {sorted(client_cores)}"],
            ["server CPU per stroke (all phases)", f"{1000 * cpu_per_stroke:.0f} ms"],
            [
                "fastest stroke (idle part outside the server)",
                f"{1000 * fastest:.0f} ms ({1000 * overhead:.0f} ms)",
            ],
            [
                "highest measured rate within the target",
                f"{max(measured_ok):.2f} /s" if measured_ok else "—",
            ],
            ["one replica, p95 = 1.5 s at (model)", f"{per_core:.1f} strokes/s"],
            ["one student in a class (used below)", f"{student_rate:.3f} strokes/s"],
            [
                f"… this run's tabs, look {phases[0]['look_s']:g} s",
                f"{measured_student:.3f} strokes/s",
            ],
            ["load average before / after (1 min)", f"{load_before[0]:.1f} / {load_after[0]:.1f}"],
            ["errors", len(errors)],
            *_share_rows(phases, share, cpu_per_stroke, overhead),
        ],
    )
    body += "\n\n" + table(["class", "strokes/s", "replicas (= cores)", "their memory"], sizes)
    body += (
        "\n\nModel: one replica is one queue on one core (a Streamlit server runs its "
        "sessions' scripts under one GIL, so it uses about one core whatever the machine "
        "has). With service time s = the server's CPU per stroke and an overhead o outside "
        "the server, the M/M/1 95th percentile is o + ln(20)·s/(1 − ρ); the knee is the "
        "rate λ = ρ/s where that reaches 1.5 s. Exponential service is pessimistic for "
        "predictions that cost about the same every time. A phase that misses the target "
        f"while the server's core is less than {100 * SERVER_BOUND:.0f}% busy was held up "
        "by the browsers' core, not by the server."
    )
    if errors:
        body += f"\n\nErrors: {'; '.join(sorted(set(errors)))[:500]}"
    return result(
        "capacity",
        TITLE,
        body,
        targets,
        cpu_per_stroke_s=cpu_per_stroke,
        per_core=per_core,
        student_rate=student_rate,
        load=(load_before, load_after),
        phases=[{k: v for k, v in ph.items() if k != "warm_latencies"} for ph in phases],
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, help="Chromium tabs (8; quick 4)")
    parser.add_argument("--seconds", type=float, help="drawing time per phase (40; quick 12)")
    parser.add_argument("--looks", help="look times of the phases, comma-separated (5,2,1,0)")
    parser.add_argument("--server-cores", help="cores for the server (default: the first)")
    parser.add_argument("--client-cores", help="cores for the browsers (default: the rest)")
    parser.add_argument(
        "--student-rate",
        type=float,
        default=STUDENT_RATE,
        help=f"one student's strokes per second ({STUDENT_RATE:g})",
    )
    parser.add_argument(
        "--share",
        type=float,
        default=1.0,
        help="hold the server to this share of its core (model check; root)",
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)

    def cores(text):
        return {int(c) for c in text.split(",")} if text else None

    looks = (
        tuple(float(x) for x in args.looks.split(","))
        if args.looks
        else ((5.0, 0.0) if args.quick else (5.0, 2.0, 1.0, 0.0))
    )
    out = run(
        sessions=args.sessions or (4 if args.quick else 8),
        seconds=args.seconds or (12 if args.quick else 40),
        looks=looks,
        server_cores=cores(args.server_cores),
        client_cores=cores(args.client_cores),
        student_rate=args.student_rate,
        share=args.share,
    )
    print(section(out))
    return out


if __name__ == "__main__":
    main()
