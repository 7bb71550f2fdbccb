"""Capacity of one replica: the server pinned to one core, many simulated students on
the other(s) speaking Streamlit's websocket protocol directly (bench/stclient.py, no
browser), at a rising stroke rate until the p95 of stroke sent -> prediction received
passes the load target. The knee (the rate where it passes) sizes a class.

Each step offers strokes at random (Poisson) times at a fixed rate, each given to an idle
student, who does what a student does for a digit: clears the canvas (a run), draws for
DRAW_S, sends the stroke (a run: the prediction and the page's images, which it fetches).
Per step: strokes offered and answered, p50 / p95, answers that show the drawn digit, the
server's CPU per digit (/proc/PID/stat) and how busy the client's core was, with the load
average. First, one student alone and one Chromium tab alone give the browser's share of
a stroke's latency (mouse-up -> prediction shown, minus the client's sent -> received).

    python -m bench.capacity [--quick] [--students 80] [--seconds 30] [--rates 2,4,...]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import time

from bench.common import (
    STROKE_DIGITS,
    Server,
    Table,
    Target,
    app_checkpoint_missing,
    median,
    result,
    skipped,
    summary,
)
from bench.load import TARGET_P95_MS
from bench.report import section
from bench.stclient import Student, prepare

TITLE = "Capacity: one replica on one core"
TARGET_P95_S = TARGET_P95_MS / 1000  # the load target (bench/load.py)
CLASS_SIZES = (30, 300, 3000)
# One student's strokes per second when a class draws: bench/RESULTS.md's load run, 10
# Chromium sessions that each look 5 s at a result: 1.2 predictions/s in all (7 a minute
# each: draw, look 5 s, clear, draw again; a pessimistic, busy student).
STUDENT_RATE = 0.12
DRAW_S = 0.6  # a hand draws a digit in 0.4-0.8 s (bench/load.py's pace)
RATES = (2, 4, 6, 8, 9, 10, 11, 12, 13, 14, 16, 18, 20, 24)
BEYOND = 2  # steps past the target before the ramp stops
ONE_STUDENT_STROKES = 15


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_times(core: int) -> tuple[int, int]:
    """(busy, total) clock ticks of one core since boot (/proc/stat): what every process
    on it used, so a step can tell the server's share of its core from the others'."""
    with open("/proc/stat") as f:
        line = next(x for x in f if x.startswith(f"cpu{core} "))
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, line.split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def renice(pid: int, nice: int) -> None:
    """Every thread of ``pid`` to priority ``nice`` (threads they start later inherit it;
    below 0 needs root): on a shared machine, other processes on the server's core then
    yield it to the server, as a replica's guaranteed core would. With the kernel's
    autogroups (sched_autogroup_enabled), nice counts only within a session's group, so the
    group's nice is set too: the whole session's (this bench's processes')."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.setpriority(os.PRIO_PROCESS, int(tid), nice)
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass  # no autogroups


def pin(server: Server, cores: set[int]) -> None:
    """Every thread of the running server onto ``cores`` (threads it starts later inherit)."""
    spec = ",".join(map(str, sorted(cores)))
    subprocess.run(
        ["taskset", "-a", "-p", "-c", spec, str(server.proc.pid)], check=True, capture_output=True
    )


def knee(steps: list[dict], target_s: float = TARGET_P95_S) -> float | None:
    """The offered stroke rate at which the p95 passes ``target_s``: linear between the
    last step within it and the next step; None when no step passed it (the knee lies
    beyond the ramp) or the first step already did (0.0)."""
    for i, step in enumerate(steps):
        if step["p95_s"] > target_s:
            if i == 0:
                return 0.0
            a = steps[i - 1]
            f = (target_s - a["p95_s"]) / (step["p95_s"] - a["p95_s"])
            return a["rate"] + f * (step["rate"] - a["rate"])
    return None


def sizing(per_replica: float, student_rate: float = STUDENT_RATE) -> list[dict]:
    """Replicas (one core each) for each class size, at ``per_replica`` strokes/s each."""
    return [
        {
            "students": n,
            "strokes_s": n * student_rate,
            "replicas": max(1, math.ceil(n * student_rate / per_replica)),
        }
        for n in CLASS_SIZES
    ]


async def _digit(student: Student, digit: int, out: dict) -> None:
    try:
        if student.drawn:
            await student.clear()
        await asyncio.sleep(DRAW_S)
        r = await student.stroke(digit)
    except Exception as e:  # a timeout, a closed socket, an exception on the page
        out["errors"].append(f"{type(e).__name__}: {str(e)[:100]}")
        return
    out["latencies"].append(r["latency_s"] if r["value"] is not None else math.inf)
    out["runs"].append(r["run_s"])
    out["correct"] += r["value"] == str(digit)
    out["bytes"] += r["image_bytes"]


async def _step(students: list[Student], rate: float, seconds: float, pid: int, core: int) -> dict:
    """Strokes at Poisson times at ``rate`` per second for ``seconds``, then the ones in
    flight are waited for."""
    out = {"rate": rate, "offered": 0, "no_idle": 0, "errors": [], "latencies": [], "runs": []}
    out.update(correct=0, bytes=0, load=os.getloadavg()[0])
    busy: set[int] = set()
    tasks = []
    rng = random.Random(rate)
    cpu0, own0, t0 = server_cpu_s(pid), sum(os.times()[:2]), time.monotonic()
    core0 = core_times(core)
    t = t0 + rng.expovariate(rate)
    while t < t0 + seconds:
        await asyncio.sleep(max(0.0, t - time.monotonic()))
        out["offered"] += 1
        idle = [i for i in range(len(students)) if i not in busy]
        if not idle:
            out["no_idle"] += 1
        else:
            i = rng.choice(idle)
            busy.add(i)
            task = asyncio.create_task(
                _digit(students[i], STROKE_DIGITS[out["offered"] % len(STROKE_DIGITS)], out)
            )
            task.add_done_callback(lambda _, i=i: busy.discard(i))
            tasks.append(task)
        t += rng.expovariate(rate)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t0
    busy_ticks, ticks = (b - a for a, b in zip(core0, core_times(core), strict=True))
    n = len(out["latencies"])
    s = summary(out["latencies"]) if n else {"median_ms": math.nan, "p95_ms": math.inf}
    out.update(
        answered=n,
        p50_s=s["median_ms"] / 1000,
        p95_s=s["p95_ms"] / 1000,
        run_p95_s=summary(out["runs"])["p95_ms"] / 1000 if n else math.inf,
        server_ms_per_digit=1000 * (server_cpu_s(pid) - cpu0) / max(n, 1),
        server_busy=(server_cpu_s(pid) - cpu0) / elapsed,
        others_busy=max(busy_ticks / max(ticks, 1) - (server_cpu_s(pid) - cpu0) / elapsed, 0.0),
        client_busy=(sum(os.times()[:2]) - own0) / elapsed,
        elapsed_s=elapsed,
    )
    return out


async def _one_student(url: str, strokes: int) -> list[float]:
    """One student alone, a stroke a second: sent -> prediction received (s)."""
    s = Student(url)
    await s.open()
    out = []
    try:
        for k in range(strokes):
            if s.drawn:
                await s.clear()
            await asyncio.sleep(1.0)
            r = await s.stroke(STROKE_DIGITS[k % len(STROKE_DIGITS)])
            out.append(r["latency_s"])
    finally:
        await s.close()
    return out


async def _one_tab(url: str, strokes: int) -> list[float]:
    """One Chromium tab alone (bench/load.py's stroke): mouse-up -> prediction shown (s);
    [] without Chromium."""
    from bench.common import chromium_missing

    if chromium_missing():
        return []
    from bench.load import clear, open_page, stroke
    from lenet_testkit.browser import async_browser

    out, state = [], {"errors": [], "contexts": []}
    async with async_browser() as b:
        page = await open_page(0, b, url, state)
        for k in range(strokes + 1):  # the first (the tab's first prediction) not kept
            r = await stroke(page, STROKE_DIGITS[k % len(STROKE_DIGITS)])
            if k and "latency_s" in r:
                out.append(r["latency_s"])
            await asyncio.sleep(1.0)
            await clear(page)
    return out


async def _measure(server: Server, core: int, n_students: int, rates, seconds: float) -> dict:
    prepare(STROKE_DIGITS)
    out = {
        "one_student_s": await _one_student(server.url, ONE_STUDENT_STROKES),
        "one_tab_s": await _one_tab(server.url, ONE_STUDENT_STROKES),
        "steps": [],
    }
    students = [Student(server.url) for _ in range(n_students)]
    t0 = time.monotonic()
    for k in range(0, n_students, 4):  # page loads, 4 at a time
        await asyncio.gather(*(s.open() for s in students[k : k + 4]))
    out["open_s"] = time.monotonic() - t0
    try:
        for rate in rates:
            step = await _step(students, rate, seconds, server.proc.pid, core)
            out["steps"].append(step)
            if sum(s["p95_s"] > TARGET_P95_S for s in out["steps"]) >= BEYOND:
                break
    finally:
        await asyncio.gather(*(s.close() for s in students), return_exceptions=True)
    out["rss_mb"] = server.rss_mb()
    return out


def run(
    students: int = 80,
    seconds: float = 30.0,
    rates: tuple[float, ...] = RATES,
    server_cores: set[int] | None = None,
    client_cores: set[int] | None = None,
    student_rate: float = STUDENT_RATE,
    nice: int = 0,
) -> dict:
    """``nice`` < 0 raises the server's and the clients' priority (root; see renice).
    Data: ``steps`` (per offered rate: p50_s, p95_s, answered, correct, errors,
    server_ms_per_digit, server_busy, client_busy, load), ``knee`` (strokes/s at p95 =
    target, None if not reached), ``knee_browser`` (the same with the browser's share
    added to every p95), ``one_student_s`` / ``one_tab_s`` (latencies alone), ``sizing``,
    ``cores``, ``load`` (before, after), ``rss_mb``; plus result()'s blocks and targets."""
    target = Target(
        "one replica on one core: strokes/s at p95 sent → prediction = 1.5 s",
        None,
        STUDENT_RATE * 30,
        "strokes/s",
        higher_is_better=True,
        note="limit: a class of 30",
    )
    cores = sorted(os.sched_getaffinity(0))
    why = app_checkpoint_missing() or (
        "needs two cores: one for the server, the rest for the clients" if len(cores) < 2 else None
    )
    if why:
        return skipped("capacity", TITLE, why, [target])
    server_cores = server_cores or {cores[-1]}
    client_cores = client_cores or set(cores) - server_cores
    load_before = os.getloadavg()
    os.sched_setaffinity(0, client_cores)  # this process and the Chromium it starts
    try:
        with Server() as server:
            pin(server, server_cores)
            if nice:
                renice(server.proc.pid, nice)
                renice(os.getpid(), nice)
            data = asyncio.run(_measure(server, min(server_cores), students, rates, seconds))
    finally:
        os.sched_setaffinity(0, set(cores))
        if nice:
            renice(os.getpid(), 0)
    _summarise(data, student_rate)
    data.update(
        cores={"server": sorted(server_cores), "client": sorted(client_cores)},
        load=(load_before, os.getloadavg()),
        students=students,
        seconds=seconds,
        nice=nice,
    )
    target.measured = data["knee"]
    return result("capacity", TITLE, _blocks(data), [target], **data)


def _summarise(data: dict, student_rate: float) -> None:
    """The knees, the browser's share of a stroke, and the class sizes, into ``data``."""
    steps = data["steps"]
    browser_share = (
        max(median(data["one_tab_s"]) - median(data["one_student_s"]), 0.0)
        if data["one_tab_s"]
        else 0.0
    )
    data.update(
        knee=knee(steps),
        knee_browser=knee(steps, TARGET_P95_S - browser_share),
        browser_share_s=browser_share,
        student_rate=student_rate,
    )
    # sized by the stricter knee; a ramp that never passed the target: its last rate
    per_replica = data["knee_browser"] or data["knee"] or (steps[-1]["rate"] if steps else 0)
    data["sizing"] = sizing(per_replica, student_rate) if per_replica else []


def _blocks(d: dict) -> list[Table]:
    rows = [
        [
            f"{s['rate']:g}",
            f"{s['offered']} / {s['answered']}",
            f"{1000 * s['p50_s']:.0f} / {1000 * s['p95_s']:.0f}",
            f"{1000 * s['run_p95_s']:.0f}",
            f"{s['correct']}/{s['answered']}",
            len(s["errors"]) + s["no_idle"],
            f"{s['server_ms_per_digit']:.0f}",
            f"{100 * s['server_busy']:.0f}% / {100 * s['others_busy']:.0f}%",
            f"{100 * s['client_busy']:.0f}%",
            f"{s['load']:.1f}",
        ]
        for s in d["steps"]
    ]
    body = Table(
        [
            "offered strokes/s",
            "offered / answered",
            "p50 / p95 (ms)",
            "p95 to run end (ms)",
            "right digit",
            "errors",
            "server CPU ms/digit",
            "server's core: by the server / by others",
            "client busy",
            "load avg (1 min)",
        ],
        rows,
    )

    facts = _facts(d)
    sizes = Table(
        ["students drawing at once", "strokes/s", "replicas (= cores)"],
        [[s["students"], f"{s['strokes_s']:.1f}", s["replicas"]] for s in d["sizing"]],
    )
    return [body, Table(["", "value"], facts), sizes]


def _facts(d: dict) -> list[list]:
    def rate(x):
        return "not reached" if x is None else f"{x:.1f} strokes/s"

    alone = summary(d["one_student_s"])
    tab = summary(d["one_tab_s"]) if d["one_tab_s"] else None
    return [
        ["server core / client cores", f"{d['cores']['server']} / {d['cores']['client']}"],
        ["priority (nice) of the server and the clients", d["nice"]],
        ["students (websocket sessions), page loads", f"{d['students']}, {d['open_s']:.0f} s"],
        ["one student alone: p50 / p95", f"{alone['median_ms']:.0f} / {alone['p95_ms']:.0f} ms"],
        [
            "one Chromium tab alone: mouse-up → shown p50 / p95",
            f"{tab['median_ms']:.0f} / {tab['p95_ms']:.0f} ms" if tab else "no Chromium",
        ],
        [
            "the browser's share of a stroke (p50 difference)",
            f"{1000 * d['browser_share_s']:.0f} ms",
        ],
        ["knee: p95 = 1.5 s", rate(d["knee"])],
        ["knee with the browser's share added", rate(d["knee_browser"])],
        ["one student draws (assumed)", f"{d['student_rate']:.2f} strokes/s"],
        ["server RSS at the end", f"{d['rss_mb']:.0f} MB"],
        ["load average before / after (1 min)", f"{d['load'][0][0]:.1f} / {d['load'][1][0]:.1f}"],
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, help="websocket sessions (80; quick 20)")
    parser.add_argument("--seconds", type=float, help="seconds per rate step (30; quick 10)")
    parser.add_argument("--rates", help="offered strokes/s of the steps, comma-separated")
    parser.add_argument("--server-cores", help="cores for the server (default: the last)")
    parser.add_argument("--client-cores", help="cores for the clients (default: the rest)")
    parser.add_argument("--student-rate", type=float, default=STUDENT_RATE)
    parser.add_argument("--nice", type=int, default=0, help="server and client priority")
    parser.add_argument("--quick", action="store_true", help="two short steps (a smoke run)")
    args = parser.parse_args(argv)

    def cores(text):
        return {int(c) for c in text.split(",")} if text else None

    rates = tuple(float(x) for x in args.rates.split(",")) if args.rates else RATES
    out = run(
        students=args.students or (20 if args.quick else 80),
        seconds=args.seconds or (10 if args.quick else 30),
        rates=rates[:2] if args.quick else rates,
        server_cores=cores(args.server_cores),
        client_cores=cores(args.client_cores),
        student_rate=args.student_rate,
        nice=args.nice,
    )
    print(section(out))
    return out


if __name__ == "__main__":
    main()
