"""Reading whole numbers (lenet.reading, the "Read a number" page): digits and numbers read
right, and the time per number, on the written-number set of bench/written_numbers.py.

    python -m bench.reading [--count 200] [--variants classic,modern,lecun1998] [--dev]

``--dev`` runs on the development seed instead (the one the reader was tuned on) and
lists the numbers misread; the report is always written from the evaluation seed.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import DATA_DIR, Table, Target, checkpoint_path, median, result
from bench.report import section
from bench.written_numbers import DEV_SEED, EVAL_SEED, number_set

TITLE = "Reading whole numbers"
SETS = [("strokes", "apart"), ("strokes", "touching"), ("mnist", "apart"), ("mnist", "touching")]
# Targets (never loosened): share of digits and of whole numbers read right, time per number.
DIGITS_APART, NUMBERS_APART, DIGITS_TOUCHING, SIX_DIGIT_MS = 99.0, 95.0, 85.0, 30.0


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions of digits."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def score_set(numbers, model, scorer=None) -> dict:
    """Digits right (1 - edit distance / length, summed over the set), whole numbers
    right, median time per number, and the misread ones."""
    from lenet.reading import read_number

    right_digits = total = right_numbers = 0
    times, misread = [], []
    for n in numbers:
        t0 = time.perf_counter()
        read = read_number(n.rgba, model, scorer).digits
        times.append(time.perf_counter() - t0)
        total += len(n.digits)
        right_digits += max(0, len(n.digits) - edit_distance(read, n.digits))
        right_numbers += read == n.digits
        if read != n.digits:
            misread.append((n.digits, read))
    return {
        "numbers": len(numbers),
        "digits_pct": 100 * right_digits / total,
        "numbers_pct": 100 * right_numbers / len(numbers),
        "median_ms": 1e3 * median(times),
        "misread": misread,
    }


def six_digit_ms(model, seed: int, count: int = 40, scorer=None) -> tuple[float, float]:
    """Median time to read a 6-digit number written with strokes, digits apart: wall
    clock (the target) and this process's CPU time (what it would be on an idle core)."""
    from lenet.reading import read_number

    numbers = number_set("strokes", "apart", count, seed + 100, lengths=(6, 6))
    read_number(numbers[0].rgba, model, scorer)  # warm-up
    wall, cpu = [], []
    for n in numbers:
        t0, c0 = time.perf_counter(), time.process_time()
        read_number(n.rgba, model, scorer)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * median(wall), 1e3 * median(cpu)


def measure(variants=("classic",), count: int = 200, seed: int = EVAL_SEED, data_dir=DATA_DIR):
    from lenet.checkpoint import load_checkpoint
    from lenet.segments import load_scorer

    torch.set_num_threads(1)  # as the app: one thread per session
    sets = {(s, k): number_set(s, k, count, seed, data_dir) for s, k in SETS}
    scorer = load_scorer()  # the segment scorer beside the checkpoints, as the app reads
    out = {}
    for variant in variants:
        model = load_checkpoint(checkpoint_path(variant))
        out[variant] = {f"{s} {k}": score_set(sets[s, k], model, scorer) for s, k in SETS}
        out[variant]["six_digit_ms"], out[variant]["six_digit_cpu_ms"] = six_digit_ms(
            model, seed, scorer=scorer
        )
    return out


def run(variants=("classic", "modern", "lecun1998"), count: int = 200) -> dict:
    figures = measure(variants, count)
    first, v0 = figures[variants[0]], variants[0]
    targets = []
    for name, digits, numbers in (
        ("strokes apart", DIGITS_APART, NUMBERS_APART),
        ("mnist apart", DIGITS_APART, NUMBERS_APART),
        ("strokes touching", DIGITS_TOUCHING, None),
        ("mnist touching", DIGITS_TOUCHING, None),
    ):
        f = first[name]
        targets.append(Target(f"{name}: digits right ({v0})", f["digits_pct"], digits, "%", True))
        if numbers is not None:
            label = f"{name}: whole numbers right ({v0})"
            targets.append(Target(label, f["numbers_pct"], numbers, "%", True))
    targets.append(
        Target(f"6-digit number, median ({v0})", first["six_digit_ms"], SIX_DIGIT_MS, "ms")
    )
    rows = [
        [v, name, f["numbers"], f["digits_pct"], f["numbers_pct"], f["median_ms"]]
        for v, per_set in figures.items()
        for name, f in per_set.items()
        if isinstance(f, dict)
    ]
    headers = ["model", "set", "numbers", "digits right %", "numbers right %"]
    body = [
        f"{count} numbers of 3-8 digits per set (bench/written_numbers.py, evaluation seed "
        f"{EVAL_SEED}; the reader's constants were set on seed {DEV_SEED} only). Digits right "
        "= 1 - edit distance / length, over the set. One torch thread, as in the app.",
        Table([*headers, "median ms / number"], rows),
        "6-digit number (strokes, apart), median wall-clock ms (CPU ms of this process): "
        + ", ".join(
            f"{v} {f['six_digit_ms']:.1f} ({f['six_digit_cpu_ms']:.1f})" for v, f in figures.items()
        )
        + ". On a busy machine the wall clock includes waiting for a core: compare the load "
        "average above.",
    ]
    for per_set in figures.values():
        for f in per_set.values():
            if isinstance(f, dict):
                f["misread"] = f["misread"][:20]
    return result("reading", TITLE, body, targets, figures=figures)


QUICK = {"variants": ("classic",), "count": 30}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--variants", default="classic,modern,lecun1998")
    parser.add_argument("--dev", action="store_true", help="the development seed; list misreads")
    args = parser.parse_args(argv)
    variants = tuple(args.variants.split(","))
    if args.dev:
        for variant, per_set in measure(variants, args.count, DEV_SEED).items():
            for name, f in per_set.items():
                if not isinstance(f, dict):
                    print(f"{variant} {name} {f:.1f}")
                    continue
                print(
                    f"{variant} {name}: digits {f['digits_pct']:.2f}% numbers "
                    f"{f['numbers_pct']:.1f}% {f['median_ms']:.1f} ms  {f['misread'][:12]}"
                )
        return 0
    print(section(run(variants, args.count)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
