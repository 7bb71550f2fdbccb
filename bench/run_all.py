"""Run every benchmark and rewrite bench/RESULTS.md (`make bench`).

    python -m bench.run_all [--quick] [--only accuracy,latency] [--out bench/RESULTS.md]

The browser benchmarks (browser, memory, load, fault) run only where Chromium is found;
elsewhere they are reported as skipped. A benchmark that fails is reported with its error
and the others still run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import traceback
from pathlib import Path

from bench import (
    accuracy,
    browser,
    browser_cost,
    drawn,
    explain,
    invariance,
    latency,
    load,
    memory,
    reading,
    rerun,
    train_load,
    train_speed,
)
from bench.common import ROOT, chromium_missing, machine, result, table

ORDER = (
    "accuracy",
    "drawn",
    "train_speed",
    "latency",
    "rerun",
    "invariance",
    "explain",
    "reading",
    "browser",
    "browser_cost",
    "memory",
    "load",
    "fault",
    "train_load",
)
BROWSER = {"browser", "browser_cost", "memory", "load", "fault", "train_load"}
# The commit before the draw page's maps became images (issue 14): browser_cost measures it
# side by side with this checkout, in a temporary git worktree.
BASELINE = "6d8afb0"


def plan(quick: bool, threads: int | None = None) -> dict:
    """Each benchmark's call with the full (make bench) or quick settings."""
    if quick:
        return {
            "accuracy": lambda: accuracy.run(),
            "drawn": lambda: drawn.run(per_glyph=1),
            "train_speed": lambda: train_speed.run(
                device="all", batches=10, repeats=3, skip_race=True, threads=threads
            ),
            "latency": lambda: latency.run(calls=100, batch_repeats=1),
            "rerun": lambda: rerun.run(reruns=10, fragment_calls=10),
            "invariance": lambda: invariance.run(calls=10, class_repeats=1),
            "explain": lambda: explain.run(calls=20),
            "browser_cost": lambda: browser_cost.run(digits=3, lab_moves=2),
            "reading": lambda: reading.run(variants=("classic",), count=30),
            "browser": lambda: browser.run(strokes=5, warmup=1),
            "memory": lambda: memory.run(sessions=3),
            "load": lambda: load.run(sessions=3, seconds=15, ttl=5, margin=5),
            "fault": lambda: load.run_fault(),
            "train_load": lambda: train_load.run(strokes=5, warmup=1),
        }
    return {
        "accuracy": lambda: accuracy.run(),
        "drawn": lambda: drawn.run(),
        "train_speed": lambda: train_speed.run(device="all", threads=threads),
        "latency": lambda: latency.run(calls=1000),
        "rerun": lambda: rerun.run(reruns=40, fragment_calls=40),
        "invariance": lambda: invariance.run(calls=40),
        "explain": lambda: explain.run(calls=100),
        "browser_cost": lambda: browser_cost.run(digits=10, baseline=BASELINE),
        "reading": lambda: reading.run(count=200),
        "browser": lambda: browser.run(strokes=30),
        "memory": lambda: memory.run(sessions=10),
        "load": lambda: load.run(sessions=10, seconds=60),
        "fault": lambda: load.run_fault(),
        "train_load": lambda: train_load.run(strokes=20),
    }


def render(results: list[dict], info: dict, command: str, quick: bool, seconds: float) -> str:
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_avg = ", ".join(f"{x:g}" for x in info["load_average"])
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {when} in {seconds / 60:.1f} min"
        + (
            " (**quick settings**: few repeats, short load run; not for quoting)." if quick else "."
        ),
        "",
        table(
            ["machine", ""],
            [
                ["CPU", info["cpu"]],
                ["cores", f"{info['cores']} ({info['usable_cores']} usable by this process)"],
                ["torch threads", info["torch_threads"]],
                ["RAM", f"{info['ram_gb']} GiB"],
                ["load average at start (1, 5, 15 min)", load_avg],
                ["CUDA", info["cuda"] or "no CUDA device"],
                ["Python / torch", f"{info['python']} / {info['torch']}"],
            ],
        ),
        "",
        "Benchmarks, not tests: every figure is a median over repeats (p95 where shown), and "
        "every comparison is measured side by side in the same run, interleaved. A target "
        "that is not met is marked **MISSED** with the number measured; targets are never "
        "loosened. Timings depend on what else the machine runs: see the load average above.",
        "",
        "## Targets",
        "",
    ]
    rows = []
    for r in results:
        for t in r["targets"]:
            measured = "—" if t["measured"] is None else f"{_num(t['measured'])} {t['unit']}"
            sign = "≥" if t["higher_is_better"] else "≤"
            status = t["status"]
            if t["met"] is False:
                status = f"**MISSED** ({measured.strip()})"
            rows.append(
                [
                    r["title"],
                    t["name"],
                    measured.strip(),
                    f"{sign} {_num(t['limit'])} {t['unit']}".strip(),
                    status,
                    t["note"],
                ]
            )
    lines += [table(["benchmark", "target", "measured", "limit", "status", "note"], rows), ""]
    missed = sum(row[4].startswith("**MISSED") or row[4] == "FAILED" for row in rows)
    met = sum(row[4] == "met" for row in rows)
    lines.append(
        f"{met} met, {missed} missed or failed, {len(rows) - met - missed} not measured "
        "(missing, skipped, failed or not run) of "
        f"{len(rows)} targets."
    )
    lines.append("")
    for r in results:
        lines += [r["markdown"].strip(), ""]
    return "\n".join(lines)


def _num(x) -> str:
    from bench.common import fmt

    return fmt(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, short load run")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ORDER)}")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--json", help="also write every number to this JSON file")
    parser.add_argument(
        "--threads", type=int, help="torch threads for train_speed (default: torch's)"
    )
    args = parser.parse_args(argv)
    names = [n for n in ORDER if not args.only or n in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(ORDER) if args.only else set()
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    info = machine()
    calls = plan(args.quick, args.threads)
    no_browser = chromium_missing()
    started = time.perf_counter()
    results = []
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        if name in BROWSER and no_browser:
            out = result(name, name, f"Skipped: {no_browser}", [], skipped=no_browser)
        else:
            try:
                out = calls[name]()
            except Exception as e:  # noqa: BLE001 - reported in RESULTS.md, the rest go on
                tb = traceback.format_exc(limit=6)
                out = result(name, name, f"**Failed**: {type(e).__name__}: {e}\n\n```\n{tb}```", [])
        out["seconds"] = time.perf_counter() - t0
        print(out["markdown"], flush=True)
        results.append(out)
    given = sys.argv[1:] if argv is None else argv
    command = ("python -m bench.run_all " + " ".join(given)).strip()
    text = render(results, info, command, args.quick, time.perf_counter() - started)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
