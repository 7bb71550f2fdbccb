"""Accuracy of each shipped checkpoint on drawn digits (issue 19.3): lenet.drawn's pen-stroke
digits (two hands of our own, the tests' digits, three fonts) at three pen widths, with
varied slant, size and position, rasterised like the canvas and read through
lenet.preprocess.canvas_steps exactly as the draw page does. The eval split is reported;
the dev split (another seed) is for looking at the errors. Nothing here is trained on.

    python -m bench.drawn [--split eval|dev] [--per-glyph 4] [--shown-errors 30]
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import VARIANTS, Table, Target, checkpoint_path, cli, result, skipped

TITLE = "Accuracy on drawn digits"
TARGET_PCT = 99.0  # issue 19.3: every shipped network, on drawn digits


def drawn_set(split: str, per_glyph: int) -> tuple[list, np.ndarray]:
    from lenet.drawn import evaluation_set

    return evaluation_set(split, per_glyph)


def evaluate(path: Path, meta: list[dict], images: np.ndarray) -> dict:
    from lenet.checkpoint import load_checkpoint
    from lenet.drawn import score

    r = score(load_checkpoint(path), meta, images)
    pct = {k: {g: 100.0 * a for g, a in r[k].items()} for k in ("by_pen", "by_source", "by_digit")}
    return {"accuracy_pct": 100.0 * r["accuracy"], **pct, "errors": r["errors"]}


def run(
    split: str = "eval",
    per_glyph: int = 4,
    checkpoints: dict[str, Path] | None = None,
    shown_errors: int = 30,
) -> dict:
    checkpoints = {v: checkpoint_path(v) for v in VARIANTS} | (checkpoints or {})
    present = {v: Path(p) for v, p in checkpoints.items() if Path(p).is_file()}
    kind = {"higher_is_better": True, "unmeasured": "missing"}
    name = "on drawn digits"
    targets = [Target(f"{v} {name} ({split})", None, TARGET_PCT, "%", **kind) for v in checkpoints]
    if not present:
        return skipped("drawn", TITLE, "no checkpoint to evaluate", targets)
    meta, images = drawn_set(split, per_glyph)
    per_variant = {v: evaluate(p, meta, images) for v, p in present.items()}
    for t, v in zip(targets, checkpoints, strict=True):
        if v in per_variant:
            t.measured = per_variant[v]["accuracy_pct"]
    body = _body(per_variant, meta, split, shown_errors)
    return result(
        "drawn", TITLE, body, targets, split=split, samples=len(meta), variants=per_variant
    )


def _body(per_variant: dict, meta: list[dict], split: str, shown_errors: int) -> list:
    pens = list(dict.fromkeys(m["pen"] for m in meta))
    sources = list(dict.fromkeys(m["source"] for m in meta))
    rows = [
        [
            v,
            f"{r['accuracy_pct']:.1f}%",
            *(f"{r['by_pen'][p]:.1f}%" for p in pens),
            str(len(r["errors"])),
        ]
        for v, r in per_variant.items()
    ]
    by_source = [
        [v, *(f"{r['by_source'][s]:.1f}%" for s in sources)] for v, r in per_variant.items()
    ]
    error_rows = [
        [v, e["source"], e["digit"], e["predicted"], f"{e['pen']} ({e['width']} px)", e["slant"]]
        for v, r in per_variant.items()
        for e in r["errors"][:shown_errors]
    ]
    confusions = {
        v: Counter(f"{e['digit']}→{e['predicted']}" for e in r["errors"]).most_common(5)
        for v, r in per_variant.items()
    }
    return [
        f"{len(meta)} drawn digits ({split} split; sources: {', '.join(sources)}; pen widths "
        "thin 7–11 px, default 17–23 px, thick 30–40 px on the 280 px canvas; slant ±0.35, "
        "width ×0.75–1.3, height 30–85% of the canvas, anywhere on it, ±10° rotation).",
        Table(["checkpoint", "accuracy", *(f"{p} pen" for p in pens), "errors"], rows),
        Table(["checkpoint", *sources], by_source),
        "Most frequent confusions (true→read): "
        + "; ".join(f"{v}: " + ", ".join(f"{k} ×{n}" for k, n in c) for v, c in confusions.items()),
        Table(["checkpoint", "source", "digit", "read as", "pen", "slant"], error_rows)
        if error_rows
        else f"Errors listed: {shown_errors} per checkpoint.",
    ]


QUICK = {"per_glyph": 1}

if __name__ == "__main__":
    cli(run, QUICK)
