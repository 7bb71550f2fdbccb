"""How often the right segmentation is in the reader's candidate graph: a diagnostic of
the cut generator, on the development seed only (bench/written_numbers.py's DEV_SEED).

    python -m bench.reading_reach [--count 100] [--sets strokes:touching,mnist:touching]
                                  [--read]

For every written number it labels each candidate from the pixels' owners, as the
segment scorer's training does (``lenet.segments.label_candidates``: a digit when it
holds nearly all of one digit's ink and nearly nothing else), and reports per set:

- ``reachable``: the share of numbers whose right reading is a path of the graph (the
  most a perfect scorer could read right);
- ``joins``: the share of touching neighbours (two digits in one component) with a node
  where a right candidate for the first ends and one for the second starts;
- the candidates per number (the work) and, with ``--read``, the digits read right by
  the shipped classic model and segment scorer.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.common import checkpoint_path
from bench.reading import edit_distance
from bench.written_numbers import DEV_SEED, number_set
from lenet import reading
from lenet.segments import NONE, label_candidates


def number_graph(n) -> dict:
    """The candidate graph of one written number and what its labels say."""
    ink = reading.ink_of(n.rgba)
    pieces = reading.over_segment(ink)
    spans = reading.candidate_spans(pieces)
    labels = label_candidates(ink, n.owner, pieces, spans, len(n.digits))
    good = {
        span: tile for span, tile in zip(spans, labels, strict=True) if tile not in (None, NONE)
    }
    label_map, _ = reading.label_components(ink > reading.INK_THRESHOLD * ink.max())
    touching = [k for k in range(len(n.digits) - 1) if _same_component(label_map, n.owner, k)]
    ends = {(b, tile) for (_, b), tile in good.items()}
    starts = {(a, tile) for (a, _), tile in good.items()}
    found = sum(any((g, k) in ends and (g, k + 1) in starts for g, _ in ends) for k in touching)
    return {
        "reachable": _reachable(good, len(pieces.nodes) - 1, len(n.digits)),
        "touching": len(touching),
        "joins": found,
        "candidates": len(spans),
        "pieces": len(pieces.boxes),
    }


def _same_component(label_map: np.ndarray, owner: np.ndarray, k: int) -> bool:
    """Do digits k and k + 1 share a connected component (do they touch)?"""
    a = set(np.unique(label_map[owner == k])) - {0}
    return bool(a & set(np.unique(label_map[owner == k + 1])))


def _reachable(good: dict, last: int, n_digits: int) -> bool:
    """A path from node 0 to node last through right candidates of digits 0, 1, ..."""
    reach = {0: {0}}  # node -> digits read so far
    for node in range(last):
        for (a, b), tile in good.items():
            if a == node and tile in reach.get(node, ()):
                reach.setdefault(b, set()).add(tile + 1)
    return n_digits in reach.get(last, set())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--sets", default="strokes:touching,mnist:touching")
    parser.add_argument("--read", action="store_true", help="also read with classic + scorer")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = scorer = None
    if args.read:
        from lenet.checkpoint import load_checkpoint
        from lenet.segments import load_scorer

        model, scorer = load_checkpoint(checkpoint_path("classic")), load_scorer()
    for spec in args.sets.split(","):
        source, kind = spec.split(":")
        numbers = number_set(source, kind, args.count, DEV_SEED)
        stats = [number_graph(n) for n in numbers]
        total = {key: sum(s[key] for s in stats) for key in stats[0]}
        line = (
            f"{source} {kind}: reachable {100 * total['reachable'] / len(stats):.0f}% "
            f"joins {100 * total['joins'] / max(total['touching'], 1):.1f}% "
            f"of {total['touching']}, pieces {total['pieces'] / len(stats):.1f} "
            f"candidates {total['candidates'] / len(stats):.1f} / number"
        )
        if args.read:
            right = length = 0
            cpu = time.process_time()
            for n in numbers:
                got = reading.read_number(n.rgba, model, scorer).digits
                right += max(0, len(n.digits) - edit_distance(got, n.digits))
                length += len(n.digits)
            cpu = 1e3 * (time.process_time() - cpu) / len(numbers)
            line += f"; read: digits {100 * right / length:.1f}% ({cpu:.0f} ms CPU / number)"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
