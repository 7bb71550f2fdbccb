"""Run every benchmark and rewrite bench/RESULTS.md (`make bench`).

    python -m bench.run_all [--quick] [--only accuracy,latency] [--out bench/RESULTS.md]

The browser benchmarks (browser, memory, load, fault) run only where Chromium is found;
elsewhere they are reported as skipped. A benchmark that fails is reported with its error
and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from functools import partial
from pathlib import Path

from bench.common import ROOT, chromium_missing, machine, result, skipped
from bench.report import document, kept_sections, section

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
# Run on their own, on a quiet machine (their sections are kept from the previous file):
# python -m bench.capacity --nice -20 (about 9 minutes, see deploy/README.md).
SEPARATE = ("capacity",)
BROWSER = {"browser", "browser_cost", "memory", "load", "fault", "train_load"}
# The commit before the draw page's maps became images (issue 14): browser_cost measures it
# side by side with this checkout, in a temporary git worktree.
BASELINE = "6d8afb0"


def plan(quick: bool, threads: int | None = None) -> dict:
    """Each benchmark's call with the full (make bench: run()'s defaults) or quick settings
    (the module's QUICK)."""
    modules = {name: importlib.import_module(f"bench.{name}") for name in ORDER if name != "fault"}
    calls = {
        n: partial(m.run, **(getattr(m, "QUICK", {}) if quick else {})) for n, m in modules.items()
    }
    calls["train_speed"] = partial(calls["train_speed"], threads=threads)
    calls["fault"] = modules["load"].run_fault
    cost = {"digits": 3, "lab_moves": 2} if quick else {"digits": 10, "baseline": BASELINE}
    calls["browser_cost"] = partial(modules["browser_cost"].run, **cost)
    return calls


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
            out = skipped(name, name, no_browser)
        else:
            try:
                out = calls[name]()
            except Exception as e:  # noqa: BLE001 - reported in RESULTS.md, the rest go on
                tb = traceback.format_exc(limit=6)
                out = result(
                    name, name, [f"**Failed**: {type(e).__name__}: {e}", f"```\n{tb}```"], []
                )
        out["seconds"] = time.perf_counter() - t0
        print(section(out), flush=True)
        results.append(out)
    given = sys.argv[1:] if argv is None else argv
    command = ("python -m bench.run_all " + " ".join(given)).strip()
    out_path = Path(args.out)
    old = out_path.read_text() if out_path.exists() else ""
    titles = [importlib.import_module(f"bench.{n}").TITLE for n in SEPARATE]
    kept = kept_sections(old, titles)
    text = document(results, info, command, args.quick, time.perf_counter() - started, kept)
    out_path.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
