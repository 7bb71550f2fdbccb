"""Run every benchmark and rewrite bench/RESULTS.md (`make bench`).

    python -m bench.run_all [--quick] [--only accuracy,latency] [--out bench/RESULTS.md]

The browser benchmarks (browser, browser_cost, memory, load, fault, train_load) run only
where Chromium is found; elsewhere they report themselves skipped. A benchmark that fails
is reported with its error and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.common import ROOT, machine, result
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


def run_one(name: str, quick: bool) -> dict:
    """One benchmark's run() with make bench's settings (its defaults) or its QUICK; a
    failure becomes a section that shows the error."""
    try:
        module = importlib.import_module(f"bench.{name}")
        return module.run(**(module.QUICK if quick else {}))
    except Exception as e:  # noqa: BLE001 - reported in RESULTS.md, the rest go on
        tb = traceback.format_exc(limit=6)
        return result(name, name, [f"**Failed**: {type(e).__name__}: {e}", f"```\n{tb}```"], [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, short load run")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ORDER)}")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--json", help="also write every number to this JSON file")
    args = parser.parse_args(argv)
    names = [n for n in ORDER if not args.only or n in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(ORDER) if args.only else set()
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    info = machine()
    started = time.perf_counter()
    results = []
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        out = run_one(name, args.quick)
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
