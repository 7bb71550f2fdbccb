"""The segment scorer: a LeNet-5 with an eleventh output, "none", trained on MNIST's
training digits and on the non-digits that cutting a written number produces (half a
digit, a digit with part of its neighbour, two digits merged, a fragment). LeCun et al.
1998 (section VI.B) trained their recogniser the same way, on "segment garbage" too:
a net trained on centred digits only is as sure of a fragment or a merged pair as of a
digit, and segmentation by recognition then cannot tell a good cut from a bad one.

    python -m lenet.segments --data data/mnist --out models/reading-segments.safetensors

The training set is made by the reader itself: rows of 2-5 MNIST training digits, apart
or touching, are over-segmented by ``lenet.reading`` and every candidate it would score
is labelled from the pixels' owners: a digit when it holds (nearly) all of one digit's
ink and (nearly) nothing else, "none" when it is far from any digit, left out in
between. The test figures come from rows made of MNIST *test* digits the same way.
The file is not a digit-reading checkpoint (``lenet.ui.checkpoints`` lists only
``lenet5-*.safetensors``): only the reader loads it, with ``load_scorer``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from lenet.checkpoint import CheckpointError, atomic_save, load_checkpoint, models_dir
from lenet.model import LeNet5, LeNetConfig
from lenet.preprocess import ink_to_steps

NONE = 10  # the eleventh class
CLASSES = 11
FILENAME = "reading-segments.safetensors"
FORMAT = "lenet5-segments/1"
DIGIT_SHARE = 0.9  # a digit: this share of one digit's ink, and of the candidate's ink
NONE_SHARE = 0.7  # none: below this share on either count for every digit


class SegmentScorer(LeNet5):
    """LeNet-5 (the modern variant's layers) with eleven outputs: the ten digits and
    "none"."""

    def __init__(self, config: LeNetConfig | None = None):
        super().__init__(config or LeNetConfig.for_variant("modern"))
        self.output = nn.Linear(84, CLASSES)


def scorer_path() -> Path:
    return models_dir() / FILENAME


# ----------------------------------------------------------------------------- rows


def _profiles(tile: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    has = tile.any(1)
    left = (tile > 0).argmax(1)
    right = tile.shape[1] - 1 - (tile[:, ::-1] > 0).argmax(1)
    return has, left, right


def compose_row(
    tiles: list[np.ndarray], gaps: list[int], tops: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Digits side by side: each tile's ink starts ``gap`` columns after the ink already
    there, row by row (negative: overlapping). Returns the ink (H, W) uint8 and the owner
    of each pixel (index of the tile with the most ink there, -1 for none)."""
    height = max(t.shape[0] + top for t, top in zip(tiles, tops, strict=True)) + 8
    width = sum(t.shape[1] + max(g, 0) for t, g in zip(tiles, gaps, strict=True)) + 16
    layers = np.zeros((len(tiles), height, width), np.uint8)
    right = np.full(height, -(10**6))
    for i, (tile, gap, top) in enumerate(zip(tiles, gaps, tops, strict=True)):
        has, left, last = _profiles(tile)
        rows = slice(top + 4, top + 4 + tile.shape[0])
        shared = has & (right[rows] > -(10**6))
        x = int(np.max(right[rows][shared] - left[shared]) + 1) if shared.any() else right.max() + 1
        x = max(4, x + gap)
        layers[i, rows, x : x + tile.shape[1]] = tile
        right[rows] = np.where(has, np.maximum(right[rows], x + last), right[rows])
    ink = layers.max(0)
    owner = np.where(ink > 0, layers.argmax(0), -1)
    cols = np.flatnonzero(ink.any(0))
    keep = slice(max(0, cols[0] - 4), cols[-1] + 5)
    return ink[:, keep], owner[:, keep]


def random_row(digits: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The 28x28 ``digits`` in a row, each scaled by 0.8-1.2, apart or touching."""
    tiles = []
    for tile in digits:
        f = rng.uniform(0.8, 1.2)
        if abs(f - 1) > 0.05:
            size = (max(1, round(28 * f * rng.uniform(0.9, 1.1))), max(1, round(28 * f)))
            tile = np.asarray(Image.fromarray(tile).resize(size, Image.Resampling.BILINEAR))
        cols = np.flatnonzero(tile.max(0) > 25)
        tiles.append(tile[:, cols[0] : cols[-1] + 1] if len(cols) else tile)
    touching = rng.random() < 0.5
    gaps = [int(rng.integers(-3, 0) if touching else rng.integers(1, 9)) for _ in tiles]
    tops = [int(rng.integers(0, 4)) for _ in tiles]
    return compose_row(tiles, gaps, tops)


# ----------------------------------------------------------------------------- examples


def label_candidates(ink, owner, pieces, spans, n_digits: int) -> list:
    """Each span's label (``pieces`` from ``lenet.reading.over_segment``, ``spans`` its
    candidates' nodes): the digit tile it is (index), NONE, or None (ambiguous)."""
    from lenet.reading import candidate_mask, candidate_outer_box

    # ink of each tile (pixels of no piece are left out)
    inside = (owner >= 0) & (pieces.piece_map > 0)
    weights = ink.astype(np.float64)
    per_digit = np.bincount(owner[inside], weights[inside], minlength=n_digits)
    out = []
    for start, stop in spans:
        x0, y0, x1, y1 = box = candidate_outer_box(pieces, start, stop)
        mine = candidate_mask(pieces, start, stop, box) & inside[y0:y1, x0:x1]
        held = np.bincount(owner[y0:y1, x0:x1][mine], weights[y0:y1, x0:x1][mine], n_digits)
        coverage = held / np.maximum(per_digit, 1)
        purity = held / max(held.sum(), 1)
        share = np.minimum(coverage, purity)
        best = int(share.argmax())
        if share[best] >= DIGIT_SHARE:
            out.append(best)
        elif share[best] < NONE_SHARE:
            out.append(NONE)
        else:
            out.append(None)
    return out


def row_examples(ink: np.ndarray, owner: np.ndarray, digits: list[int]):
    """The candidates the reader would score in this row, as 28x28 images and labels
    (0-9 or NONE; ambiguous ones left out), and whether the right path is in the graph."""
    from lenet import reading

    try:
        pieces = reading.over_segment(ink)
    except reading.ReadingError:  # a row of two thick digits can look like a smear
        return [], [], False
    spans = reading.candidate_spans(pieces)
    tiles = label_candidates(ink, owner, pieces, spans, len(digits))
    images, labels, good = [], [], set()
    for (a, b), tile in zip(spans, tiles, strict=True):
        if tile is None:
            continue
        steps = ink_to_steps(reading.candidate_ink(ink, pieces, a, b)[1])
        if steps is None:
            continue
        images.append(steps.centred28)
        labels.append(NONE if tile == NONE else digits[tile])
        if tile != NONE:
            good.add((a, b))
    return images, labels, _reachable(good, len(pieces.nodes) - 1, len(digits))


def _reachable(good: set, last: int, n_digits: int) -> bool:
    """Is there a path of exactly n_digits digit candidates from node 0 to node last?"""
    reach = {0: {0}}
    for node in range(last):
        for a, b in good:
            if a == node and node in reach:
                reach.setdefault(b, set()).update(k + 1 for k in reach[node])
    return n_digits in reach.get(last, set())


def make_examples(images, labels, rows: int, seed: int, log=None):
    """The candidates of ``rows`` random rows of 2-5 of ``images`` (28x28 uint8) and their
    labels, and the share of rows whose right reading is a path of the graph."""
    rng = np.random.default_rng(seed)
    out_x, out_y, reachable = [], [], 0
    for r in range(rows):
        picks = rng.integers(len(images), size=int(rng.integers(2, 6)))
        ink, owner = random_row(images[picks], rng)
        xs, ys, ok = row_examples(ink, owner, [int(labels[k]) for k in picks])
        out_x += xs
        out_y += ys
        reachable += ok
        if log and (r + 1) % 1000 == 0:
            log(f"{r + 1} rows, {len(out_y)} candidates", flush=True)
    return np.stack(out_x), np.array(out_y, np.int64), reachable / rows


# ----------------------------------------------------------------------------- training


def start_from(digits: LeNet5) -> SegmentScorer:
    """A scorer holding a trained digit network's weights, its "none" output new."""
    model = SegmentScorer(digits.config)
    state = {k: v for k, v in digits.state_dict().items() if not k.startswith("output.")}
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        model.output.weight[:NONE] = digits.output.weight
        model.output.bias[:NONE] = digits.output.bias
    return model


def train(x, y, epochs: int, seed: int, start: LeNet5 | None = None, log=print) -> SegmentScorer:
    """The scorer trained on uint8 images (N, 28, 28) and labels 0-10 (lenet.train's
    epoch loop, AdamW, one-cycle learning rate, light augmentation), from a trained
    digit network's weights when ``start`` is given."""
    from lenet.train import Optimizer, train_one_epoch

    torch.manual_seed(seed)
    model = SegmentScorer() if start is None else start_from(start)
    optimizer = Optimizer(model.parameters(), "adamw", 2e-3, 1e-4)
    generator = torch.Generator().manual_seed(seed)
    tx, ty = torch.as_tensor(x), torch.as_tensor(y)
    batch, step = 128, 0
    total = epochs * -(-len(x) // batch)
    for epoch in range(epochs):
        loss, step = train_one_epoch(
            model,
            optimizer,
            tx,
            ty,
            batch_size=batch,
            step=step,
            total_steps=total,
            peak_lr=2e-3,
            augment_batches=True,
            generator=generator,
        )
        log(f"epoch {epoch + 1}/{epochs}: loss {loss:.4f}", flush=True)
    return model.eval()


@torch.inference_mode()
def accuracy(model: SegmentScorer, x: np.ndarray, y: np.ndarray) -> dict:
    from lenet.preprocess import to_tensor

    pred = torch.cat([model(to_tensor(x[i : i + 2000])).argmax(1) for i in range(0, len(x), 2000)])
    pred = pred.numpy()
    digit = y != NONE

    def share(hits: np.ndarray) -> float:
        return float(hits.mean()) if len(hits) else 0.0

    return {
        "accuracy": share(pred == y),
        "digits_accuracy": share(pred[digit] == y[digit]),
        "none_recall": share(pred[~digit] == NONE),
        "digits_called_none": share(pred[digit] == NONE),
        "examples": int(len(y)),
        "none_examples": int((~digit).sum()),
    }


def save_scorer(model: SegmentScorer, path: Path, card: dict) -> None:
    metadata = {"format": FORMAT, "config": json.dumps(model.config.to_dict())}
    atomic_save(model.state_dict(), metadata | {"card": json.dumps(card)}, path)


def load_scorer(path: Path | None = None) -> SegmentScorer | None:
    """The scorer in models/ (eval mode), or None when the file is missing; a file that
    is there but unreadable raises CheckpointError."""
    from safetensors import safe_open

    path = Path(path or scorer_path())
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
        if metadata.get("format") != FORMAT:
            raise ValueError(f"format {metadata.get('format')!r}, expected {FORMAT!r}")
        model = SegmentScorer(LeNetConfig.from_dict(json.loads(metadata["config"])))
        model.load_state_dict(state)
    except Exception as e:  # safetensors and torch raise several types for bad files
        raise CheckpointError(
            f"Segment scorer {path} is unreadable ({e}). Rebuild it with: "
            f"python -m lenet.segments --out {path}"
        ) from None
    return model.eval()


def _sha256(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    from lenet.data import dataset_sha256, load_mnist

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--out", default=str(scorer_path()))
    parser.add_argument("--rows", type=int, default=6000, help="training rows of 2-5 digits")
    parser.add_argument("--digits", type=int, default=30000, help="plain training digits added")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--start",
        default=str(models_dir() / "lenet5-modern.safetensors"),
        help="a linear-output digit checkpoint to start from ('' for random weights)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    train_x, train_y = load_mnist(args.data, "train")
    test_x, test_y = load_mnist(args.data, "test")
    cx, cy, _ = make_examples(train_x, train_y, args.rows, args.seed, log=print)
    plain = np.random.default_rng(args.seed).permutation(len(train_x))[: args.digits]
    x, y = np.concatenate([cx, train_x[plain]]), np.concatenate([cy, train_y[plain]])
    print(
        f"{len(y)} examples ({int((y == NONE).sum())} none), {time.perf_counter() - started:.0f} s"
    )
    start = load_checkpoint(args.start) if args.start else None
    model = train(x, y, args.epochs, args.seed, start)
    tx, ty, reachable = make_examples(test_x, test_y, max(1, args.rows // 6), args.seed + 1)
    card = {
        "command": " ".join(
            ["python -m lenet.segments", *(sys.argv[1:] if argv is None else argv)]
        ),
        "what": "LeNet-5 (modern layers) with an eleventh output, none: segment scorer",
        "started_from": {"file": Path(args.start).name, "sha256": _sha256(args.start)}
        if args.start
        else None,
        "training": {
            "rows": args.rows,
            "digits": args.digits,
            "examples": int(len(y)),
            "none_examples": int((y == NONE).sum()),
            "epochs": args.epochs,
            "seed": args.seed,
        },
        "test_candidates": accuracy(model, tx, ty) | {"rows_with_right_path": reachable},
        "test_digits": accuracy(model, test_x, test_y.astype(np.int64)),
        "seconds": round(time.perf_counter() - started, 1),
        "threads": args.threads,
        "data_sha256": dataset_sha256(args.data),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    save_scorer(model, Path(args.out), card)
    print(json.dumps(card, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
