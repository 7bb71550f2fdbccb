"""Reading a whole number written in a row, the way LeNet-5 read cheques and zip codes
(LeCun, Bottou, Bengio and Haffner 1998, sections V-VII): segmentation by recognition.

1. Over-segmentation: the ink is split into connected components; a component wider than
   a digit is cut at the minima of its projection along the writing's slant (where few ink
   pixels are stacked: touching digits meet there), each cut first along the valley there
   (the path that crosses least ink). The result is a left-to-right row of pieces.
2. Cut shapes: where two digits touch, the valley's path often goes the wrong way round
   (a join where two strokes overlap is thicker than a stroke, so the least ink is often
   through a digit). So inside a component wider than a digit, each cut is also tried
   with other shapes: drop-fall cuts from the top and from the bottom (a drop falls
   between the digits, slides along the ink and cuts through where it is held: at the
   join), and straight cuts along and across the slant. Each shape moves pixels only
   between the two pieces beside the cut, and each is a node of the graph.
3. Candidates: one piece, or up to four neighbouring pieces joined (a 5's detached flag,
   a 4 written in two strokes), between any shape of the cut at their left and any shape
   of the cut at their right, each normalised exactly as the draw page normalises a
   drawing (``lenet.preprocess.ink_to_steps``) and scored by LeNet-5 in one batched
   forward pass.
4. The best path: dynamic programming over the graph whose nodes are the cut shapes
   (and the gaps between separate strokes) and whose edges are the candidates. A path's
   score is the mean over the line's columns of the score of the candidate covering them
   (log-probability of its digit plus a log-prior on its shape), so a path is neither
   rewarded nor penalised for having many small or few large pieces: every column is
   counted once, whatever the cut. A path also pays for each cut it makes through ink,
   in proportion to the ink cut (the paper's segmentation penalty); gaps between separate
   strokes are free.

``sliding_outputs`` is the paper's other view (the space-displacement network): the same
net applied at every horizontal position of the line, batched as 32x32 windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import torch
from PIL import Image

from lenet.model import LeNet5
from lenet.preprocess import INK_THRESHOLD, INPUT_SIZE, ink_to_steps, rgba_to_ink, to_tensor

# Bounds on the work any input can cause.
MAX_WORK_PIXELS = 1_500_000  # larger inputs (photos) are scaled down first
MAX_PIECES = 48  # pieces after cutting; more is not a written number
MAX_CANDIDATES = 1200  # candidates read (other cut shapes are tried only up to this)
MAX_INK_FRACTION = 0.65  # of the ink's bounding box: more is a smear, not writing
FLAT = 0.25  # such ink in a box less high than this share of its width is a line (a dash)
MAX_WINDOWS = 512  # windows of the sliding view
# The shape of a digit, in units of the line height (the tallest component's height).
SPECK = 0.12  # a component smaller than this in both directions is a speck, dropped
CUT_WIDTH = 0.7  # a component wider than this is cut at projection minima
CUT_SPACING = 0.15  # cuts at least this far apart
CUT_END = 0.15  # and this far from the component's ends
CUT_SHAPES_LEAN = (-1, 1)  # drop-fall cuts leaning left and right
CUT_SLOPES = (-0.25, 0.0, 0.25)  # straight cuts: columns moved a row
CUT_OFFSETS = (0.0, -0.08, -0.04, 0.04, 0.08)  # line heights from the valley's middle
SAME_SHAPE = 0.03  # shapes of a cut giving all but this share of pixels the same side are one
MAX_SHAPES = 4  # other shapes of a cut tried, beside the valley's
SHAPES_WIDTH = 1.0  # in a component wider than this (touching digits), where many fail
CUT_EVERY = 0.25  # at most one cut per this much of a component's width
# More cuts, straight, at the minima of the ink's projection along these shears (columns
# per row, relative to the writing's slant): digits touching at another slant than the
# line's meet where few pixels are stacked along theirs, not in the valleys.
CUT_SHEARS = (-0.3, -0.15, 0.0, 0.15, 0.3)
STRAIGHT_EVERY = 0.25  # at most one such cut per this much of a component's width
STRAIGHT_SPACING = 0.1  # and this far from every other cut
STRAIGHT_WIDTH = 1.4  # only in a component wider than this (not one wide digit)
CUT_BAND = 0.15  # a cut may wander this far (line heights) either side of its start
CUT_GRID = 100  # cuts are searched on a grid this many cells a line height (at most)
SIDESTEP = 0.3  # a cut's cost per column it moves, in ink pixels crossed
MERGE_GAP = 0.3  # pieces further apart than this are never joined into one digit
MAX_DIGIT_WIDTH = 1.6  # a candidate wider than this is not tried
SHORT, SHORT_PENALTY = 0.65, 4.0  # log-prior: a candidate shorter than SHORT x line height
WIDE, WIDE_PENALTY = 0.85, 3.0  # log-prior: a candidate wider than WIDE x its height
MAX_JOIN = 4  # pieces a candidate may join
SLANTS = np.linspace(-0.4, 0.7, 12)  # shears tried when estimating the writing's slant
JOIN_PENALTY = 0.1  # log-prior per line height of blank gap between the pieces joined
CUT_COST = 1.0  # per ink pixel a cut goes through, in column x log-probability units
# With a segment scorer, a candidate's digit probabilities are the normalised geometric
# mean of the digit network's and the scorer's (given a digit), the scorer's weight:
SCORER_SHARE = 0.5
UNSURE = 0.7  # a digit read with less confidence is flagged
NOT_DIGITS = 0.5  # a reading whose pieces are mostly (by width) "none" to the scorer
SLIDE_HEIGHT = 20  # the line's height in the sliding view, as a digit's in MNIST's 28x28
SLIDE_STRIDE = 2  # pixels between windows of the sliding view (input scale: 32x32)


class ReadingError(ValueError):
    """Input that is not a written number. ``reason`` is a short code the app translates."""

    def __init__(self, reason: str, **fields: object):
        super().__init__(f"{reason}: {fields}" if fields else reason)
        self.reason, self.fields = reason, fields


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the input's pixels, end exclusive


@dataclass(frozen=True)
class Candidate:
    """One or more neighbouring pieces read as one digit: an edge of the graph from node
    ``start`` to node ``stop`` (see ``Pieces.nodes``)."""

    start: int
    stop: int
    box: Box
    digit: int
    confidence: float  # P(digit): the network's softmax, mixed with the scorer's if any
    prior: float  # log-prior of its shape (0 for a digit-shaped candidate, < 0 otherwise)
    image: np.ndarray = field(repr=False)  # 28x28 uint8, as LeNet-5 saw it
    probabilities: np.ndarray = field(repr=False)  # (10,)
    none: float = 0.0  # the segment scorer's probability that this is no digit
    pieces: int = 1  # how many pieces it joins

    @property
    def sure(self) -> float:
        """How sure the reader is that this is its digit: P(the digit), times P(a digit at
        all) where a segment scorer says how likely it is to be none."""
        return self.confidence * (1.0 - self.none)

    @property
    def score(self) -> float:
        """Per column of the line: log-probability of the digit, and of its being a digit
        at all (the segment scorer's), + log-prior of the shape."""
        digit = np.log(max(self.confidence, 1e-12)) + np.log(max(1 - self.none, 1e-12))
        return float(digit + self.prior)


@dataclass(frozen=True)
class Reading:
    digits: str
    boxes: list[Box]
    confidences: list[float]  # Candidate.sure of each digit read
    images: list[np.ndarray]  # 28x28 uint8 each
    pieces: list[Box] = field(default_factory=list)  # the over-segmentation, left to right
    cuts: list[int] = field(default_factory=list)  # x of each cut inside a component
    candidates: list[Candidate] = field(default_factory=list)  # the graph's edges
    path: list[int] = field(default_factory=list)  # indices into candidates, left to right
    line_height: int = 0
    nodes: list[float] = field(default_factory=list)  # x of the graph's nodes (candidates' ends)

    @property
    def unsure(self) -> list[bool]:
        return [c < UNSURE for c in self.confidences]

    @property
    def looks_like_digits(self) -> bool:
        """False when the segment scorer calls most of the path (by width) no digit: the
        marks are not a number, and the digits read are only the reader's best guess (it
        has no "none" path: every column is read as some digit)."""
        chosen = [self.candidates[i] for i in self.path]
        width = sum(_width(c.box) for c in chosen)
        none = sum(_width(c.box) for c in chosen if c.none > 0.5)
        return not chosen or none <= NOT_DIGITS * width

    @property
    def score(self) -> float:
        """The winning path's mean score per column (0 is the best possible)."""
        widths = [_width(self.candidates[i].box) for i in self.path]
        scores = [self.candidates[i].score for i in self.path]
        return float(np.average(scores, weights=widths)) + 0.0 if self.path else 0.0


EMPTY = Reading("", [], [], [])


def _width(box: Box) -> int:
    return box[2] - box[0]


def ink_of(image: np.ndarray) -> np.ndarray:
    """An RGBA canvas (H, W, 4) uint8 -> its ink map; an ink map (H, W) is returned as is
    (uint8 0..255 or float 0..1, as ``lenet.preprocess.photo_to_ink`` gives)."""
    if isinstance(image, np.ndarray) and image.ndim == 2:
        if not (image.dtype == np.uint8 or np.issubdtype(image.dtype, np.floating)):
            raise ValueError(f"expected a uint8 or float ink map, got {image.dtype}")
        if image.size == 0:
            raise ValueError(f"expected a non-empty ink map, got shape {image.shape}")
        return image if image.dtype == np.uint8 else np.nan_to_num(image.astype(np.float32))
    return rgba_to_ink(image)


def _working(ink: np.ndarray) -> tuple[np.ndarray, float]:
    """The ink map scaled down to at most MAX_WORK_PIXELS, and the factor applied."""
    h, w = ink.shape
    if h * w <= MAX_WORK_PIXELS:
        return ink, 1.0
    f = (MAX_WORK_PIXELS / (h * w)) ** 0.5
    size = (max(1, round(w * f)), max(1, round(h * f)))
    mode = "L" if ink.dtype == np.uint8 else "F"
    resized = Image.fromarray(ink, mode).resize(size, Image.Resampling.BOX)
    return np.asarray(resized), f


# ----------------------------------------------------------------------------- components


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The horizontal runs of ink: row, first column, end column (exclusive)."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends


def label_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components (8-connectivity) of a boolean mask: a label map (0 =
    background, 1..n) and the components' boxes (n, 4) as x0, y0, x1, y1 (end exclusive).
    Runs of ink are joined to the touching runs of the row above, and labels merged by
    min-label hooking with pointer jumping: all numpy, a few ms for a canvas."""
    rows, starts, ends = _runs(mask)
    n = len(rows)
    if n == 0:
        return np.zeros(mask.shape, np.int32), np.zeros((0, 4), np.int64)
    # Runs a (row r) and b (row r + 1) touch when a.start <= b.end and a.end >= b.start
    # (ends exclusive, diagonal neighbours included). Within a row runs are sorted, so
    # the touching runs of the row above form a range, found by binary search on keys
    # that order runs by (row, column).
    span = mask.shape[1] + 4
    start_keys, end_keys = rows * span + starts, rows * span + ends
    above = (rows - 1) * span
    lo = np.searchsorted(end_keys, above + starts, side="left")
    hi = np.maximum(np.searchsorted(start_keys, above + ends, side="right"), lo)
    count = hi - lo
    b = np.repeat(np.arange(n), count)
    a = np.repeat(lo, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    labels = _merge_labels(np.arange(n), a, b)
    _, labels = np.unique(labels, return_inverse=True)
    k = int(labels.max()) + 1
    boxes = np.zeros((k, 4), np.int64)
    boxes[:, :2] = np.iinfo(np.int64).max
    np.minimum.at(boxes[:, 0], labels, starts)
    np.minimum.at(boxes[:, 1], labels, rows)
    np.maximum.at(boxes[:, 2], labels, ends)
    np.maximum.at(boxes[:, 3], labels, rows + 1)
    out = np.zeros(mask.size, np.int32)
    lengths = ends - starts
    first = rows * mask.shape[1] + starts
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[np.repeat(first, lengths) + offsets] = np.repeat(labels + 1, lengths)
    return out.reshape(mask.shape), boxes


def _merge_labels(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each node's smallest reachable label over the edges (a, b): hook every root to the
    smallest label among its edges, flatten the trees, repeat until nothing changes."""
    while True:
        low = np.minimum(labels[a], labels[b])
        hooked = labels.copy()
        np.minimum.at(hooked, labels[a], low)
        np.minimum.at(hooked, labels[b], low)
        while not np.array_equal(jumped := hooked[hooked], hooked):
            hooked = jumped
        if np.array_equal(hooked, labels):
            return labels
        labels = hooked


# ----------------------------------------------------------------------------- pieces


def _valley_path(costs_end: np.ndarray, moves: np.ndarray, x0: int, band: int) -> np.ndarray:
    """The column of the cut starting at x0 in every row, top to bottom."""
    h = moves.shape[0]
    offset = int(costs_end.argmin())
    path = np.zeros(h, np.int64)
    for y in range(h - 1, -1, -1):
        path[y] = x0 + offset - band
        offset += int(moves[y, x0, offset])
    return path


def _cuts(grid: np.ndarray, line_height: int) -> list[list[tuple[np.ndarray, int]]]:
    """Where to cut a wide component (its ink grid, sheared upright): the valleys, the
    start columns whose cheapest cut crosses least ink (fewest first), at least
    CUT_SPACING line heights apart and CUT_END from the component's ends. Each cut is a
    list of shapes, each its column in every row and the ink pixels it crosses: the
    valley's path first (the pieces are made with it), then drop-fall paths from the
    top and from the bottom and straight slanted cuts through its middle. Straight cuts
    at the projection minima along CUT_SHEARS are more cuts (``_straight_cuts``)."""
    h, w = grid.shape
    end = max(1, round(CUT_END * line_height))
    spacing = max(1, round(CUT_SPACING * line_height))
    if w <= 2 * end:
        return []
    band = max(1, round(CUT_BAND * line_height))
    costs, moves, ends = _valley_table(grid, band)
    inner = np.arange(end, w - end)
    smooth = np.convolve(costs, np.ones(3) / 3, mode="same")
    left, right = smooth[inner - 1], smooth[np.minimum(inner + 1, w - 1)]
    minima = inner[(smooth[inner] <= left) & (smooth[inner] <= right)]
    chosen: list[int] = []
    most = int(w // (CUT_EVERY * line_height))
    for x in minima[np.argsort(costs[minima], kind="stable")]:
        if len(chosen) < most and all(abs(x - c) >= spacing for c in chosen):
            chosen.append(int(x))
    starts = {x: _valley_path(ends[x], moves, x, band) for x in chosen}
    wide = w > SHAPES_WIDTH * line_height
    if w > STRAIGHT_WIDTH * line_height:
        starts.update(_straight_cuts(grid, list(starts), line_height, end))
    cuts, left = [], np.full(h, -(10**6))
    for x in sorted(starts):
        # never crossing the cut before it; one that runs into it is the same valley
        path = np.maximum(starts[x], left + 1)
        if np.median(path - left) < spacing / 2:
            continue
        more = _other_shapes(grid, path, band, line_height) if wide else []
        cuts.append([(path, _crossed(grid, path)), *more])
        left = path
    return cuts


def _straight_cuts(grid: np.ndarray, chosen: list[int], line_height: int, end: int):
    """More cuts, straight along slants: at the minima of the ink's projection along
    CUT_SHEARS (``sheared_minima``), at least ``end`` cells from the grid's ends and
    STRAIGHT_SPACING line heights from the valleys' cuts (``chosen``) and each other,
    fewest ink cells crossed first, at most one per STRAIGHT_EVERY line heights of
    width. Returns {column at the middle row: the cut's column in every row}."""
    h, w = grid.shape
    spacing = STRAIGHT_SPACING * line_height
    most = int(w // (STRAIGHT_EVERY * line_height))
    rows = np.arange(h) - h // 2
    found = []
    for x, shear in sheared_minima(grid, CUT_SHEARS):
        if end <= x < w - end:
            path = np.round(x + shear * rows).astype(np.int64)
            found.append((_crossed(grid, path), int(x), path))
    out, taken = {}, list(chosen)
    for _, x, path in sorted(found, key=lambda f: f[:2]):
        if len(out) < most and all(abs(x - c) >= spacing for c in taken):
            out[x] = path
            taken.append(x)
    return out


def _flat_minima(values: np.ndarray) -> np.ndarray:
    """The middle index of each run of equal values lower than both its neighbours."""
    change = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(values)]])
    value = values[starts]
    before = np.concatenate([[np.inf], value[:-1]])
    after = np.concatenate([value[1:], [np.inf]])
    low = (value < before) & (value < after)
    return (starts[low] + stops[low] - 1) // 2


def sheared_minima(grid: np.ndarray, shears) -> list[tuple[int, float]]:
    """The columns (at the grid's middle row) of the minima of the ink's vertical
    projection along each of ``shears`` (columns moved per row, about the middle row):
    where few ink cells are stacked along some slant, as between two touching digits
    slanted differently from the line. A flat minimum gives its middle column."""
    h, w = grid.shape
    ys, xs = np.nonzero(grid)
    out = []
    for shear in shears:
        x = np.floor(xs + shear * (ys - h // 2)).astype(np.int64)
        origin = int(x.min())
        proj = np.convolve(np.bincount(x - origin), np.ones(3) / 3, mode="same")
        out += [(int(x) + origin, shear) for x in _flat_minima(proj)]
    return out


def _crossed(grid: np.ndarray, path: np.ndarray) -> int:
    """The ink cells a cut (its column in every row) goes through."""
    h, w = grid.shape
    inside = (path >= 0) & (path < w)
    return int(grid[np.arange(h)[inside], path[inside]].sum())


def _other_shapes(grid: np.ndarray, path: np.ndarray, band: int, line_height: int):
    """More shapes for the cut whose valley path is ``path``: drop-fall from the top
    (at its top column) and from the bottom (at its bottom column), leaning left and
    right, then straight cuts at CUT_SLOPES through its middle and CUT_OFFSETS line
    heights either side of it."""
    h = len(path)
    shapes = []
    for lean in CUT_SHAPES_LEAN:
        down = _drop_fall(grid, int(path[0]), lean, band)
        up = _drop_fall(grid[::-1], int(path[-1]), lean, band)[::-1]
        shapes += [down, up]
    rows = np.arange(h) - h // 2
    for offset in CUT_OFFSETS:
        middle = path[h // 2] + offset * line_height
        shapes += [np.round(middle + slope * rows).astype(np.int64) for slope in CUT_SLOPES]
    return [(s, _crossed(grid, s)) for s in shapes]


def _drop_fall(grid: np.ndarray, x: int, lean: int, band: int) -> np.ndarray:
    """The drop-fall cut (Congedo, Dimauro, Impedovo and Pirlo 1995), from the top row
    at column x: a drop falls down through blank cells, to the ``lean`` side first
    (-1 left, +1 right) and then to the other, slides sideways along ink below it (at
    most ``band`` cells a row), and where it is held in a hollow it cuts straight down
    through the ink. Returns its column in every row."""
    h, w = grid.shape
    ink = np.zeros((h + 1, w + 2), bool)  # blank all round, a blank row below
    ink[:h, 1:-1] = grid
    x = min(max(x, 0), w - 1) + 1
    path = np.zeros(h, np.int64)
    y, slid, came = 0, 0, 0
    while y < h:
        for step in (0, lean, -lean):
            if not ink[y + 1, x + step] and 0 < x + step <= w:
                path[y], x, y, slid, came = x - 1, x + step, y + 1, 0, 0
                break
        else:
            for step in (lean, -lean):
                if slid < band and step != -came and not ink[y, x + step] and 0 < x + step <= w:
                    x, slid, came = x + step, slid + 1, step
                    break
            else:  # held: cut down through the ink
                path[y], y, slid, came = x - 1, y + 1, 0, 0
    return path


def _valley_table(grid: np.ndarray, band: int):
    """For every start column x0 of a component's ink grid (H, W), the cheapest path from
    its top row to its bottom row that stays within ``band`` columns of x0 and moves at
    most one column a row: the ink pixels it crosses plus SIDESTEP per column moved (a
    cut that follows the valley between two touching digits). Returns the costs (W,),
    the moves (H, W, 2 band + 1) and the costs by end offset (W, 2 band + 1) for
    ``_valley_path``. Columns out of the grid are blank. On ties a move to the left is
    preferred, then straight down."""
    h, w = grid.shape
    ink = np.pad(grid.astype(np.float32), ((0, 0), (band + 1, band + 1)))
    columns = np.arange(w)[:, None] + np.arange(2 * band + 1)[None, :] + 1
    cells = ink[:, columns]  # (H, W, 2 band + 1): each start's band, row by row
    # The costs so far, with a column of infinity at either end of every band: a move
    # from there is never the cheapest. Each row's options are views into it.
    acc = np.full((w, 2 * band + 3), np.inf, np.float32)
    acc[:, 1:-1] = cells[0]
    moves = np.zeros((h, w, 2 * band + 1), np.int8)
    for y in range(1, h):
        left, down, right = acc[:, :-2] + SIDESTEP, acc[:, 1:-1], acc[:, 2:] + SIDESTEP
        side = np.minimum(down, right)
        from_left = left <= side
        best = np.where(from_left, left, side)
        moves[y] = np.where(from_left, -1, (right < down).astype(np.int8))
        acc[:, 1:-1] = best + cells[y]
    costs = acc[:, 1:-1]
    return costs.min(1), moves, costs


@dataclass(frozen=True)
class _Variant:
    """Another shape of the cut between two neighbouring pieces of one component: which
    of their pixels it leaves on its left."""

    gap: int  # the gap between pieces gap - 1 and gap
    ys: np.ndarray  # the two pieces' pixels
    xs: np.ndarray
    piece: np.ndarray  # each pixel's piece, gap - 1 or gap
    left: np.ndarray  # bool: the pixel is on this shape's left
    ink: int  # ink pixels it cuts
    x: int  # at mid-line


@dataclass(frozen=True)
class Pieces:
    piece_map: np.ndarray  # 0 = faint ink of no piece, -1 = speck, k >= 1 = piece k - 1
    boxes: np.ndarray  # (P, 4), left to right
    cuts: list[tuple[int, int, int, int]]  # x at mid-line, ink pixels cut, left and right piece
    line_height: int
    slant: float  # the writing's slant: a cut at x is the line x + slant * (y - middle)
    middle: int  # the row the slant is measured from
    variants: list[_Variant] = field(default_factory=list)

    @cached_property
    def nodes(self) -> list[tuple[int, int]]:
        """The graph's nodes, left to right: (gap, -1) for each gap between pieces (0 to
        P) and (gap, k) for each other shape k of the cut at that gap."""
        shapes = [(v.gap, k) for k, v in enumerate(self.variants)]
        return sorted([(g, -1) for g in range(len(self.boxes) + 1)] + shapes)

    def node_x(self) -> list[float]:
        """Each node's x: the gap's middle between its pieces, or its cut at mid-line."""
        b = self.boxes
        gaps = [b[0, 0], *((b[1:, 0] + b[:-1, 2]) / 2), b[-1, 2]]
        return [float(gaps[g] if k < 0 else self.variants[k].x) for g, k in self.nodes]


def _check_line(mask: np.ndarray, boxes: np.ndarray, keep: np.ndarray) -> None:
    """Refuse what is not a written number: too many pieces, or a smear of ink."""
    if keep.sum() > MAX_PIECES:
        raise ReadingError("too_many_pieces", count=int(keep.sum()), limit=MAX_PIECES)
    x0, y0 = boxes[keep, :2].min(0)
    x1, y1 = boxes[keep, 2:].max(0)
    fraction = mask[y0:y1, x0:x1].mean()
    if fraction > MAX_INK_FRACTION and (y1 - y0) < FLAT * (x1 - x0):
        raise ReadingError("a_line")  # a dash: advice to write thinner would not help
    if fraction > MAX_INK_FRACTION and (x1 - x0) > 0.5 * (y1 - y0):
        raise ReadingError("too_much_ink", percent=round(100 * fraction))


def estimate_slant(ys: np.ndarray, xs: np.ndarray, middle: float) -> float:
    """The shear that makes the ink's vertical projection most peaked (upright strokes
    stack up): the writing's slant, positive for italic. Cuts follow it."""
    step = max(1, len(xs) // 20_000)  # a sample is enough
    ys, xs = ys[::step], xs[::step]
    best, best_peak = 0.0, -1.0
    for slant in SLANTS:
        sheared = np.floor(xs + slant * (ys - middle)).astype(np.int64)
        peak = float(np.square(np.bincount(sheared - sheared.min())).sum())
        if peak > best_peak:
            best, best_peak = float(slant), peak
    return best


def _component_cuts(ys: np.ndarray, sheared: np.ndarray, line_height: int):
    """The cuts of one component (pixel rows, sheared columns from 0): found on a grid
    at most CUT_GRID cells a line height (the search's cost grows with the square of
    the size), then scaled back. Each cut is a list of shapes, the first the one that
    makes the pieces: its sheared column in every pixel row and the ink pixels it
    crosses."""
    scale = min(1.0, CUT_GRID / line_height)
    gy, gx = (ys * scale).astype(np.int64), (sheared * scale).astype(np.int64)
    grid = np.zeros((gy.max() + 1, gx.max() + 1), bool)
    grid[gy, gx] = True
    rows = (np.arange(ys.max() + 1) * scale).astype(np.int64)
    return [
        [(((path[rows] + 0.5) / scale).astype(np.int64), round(ink / scale)) for path, ink in cut]
        for cut in _cuts(grid, max(1, round(line_height * scale)))
    ]


def _shapes(ys, xs, sheared, side: np.ndarray, k: int, cut, at: tuple[int, int, int]):
    """The other shapes of cut ``k`` of a component as _Variant records (their gap still
    unknown: -1; ``at`` = the component's first row and column, and the cut's x at
    mid-line), each the pixels of the two pieces beside it and which are on its left.
    A shape that leaves nearly the same pixels on its left as one before it (all but
    SAME_SHAPE of them), or none, or all, is dropped; at most MAX_SHAPES are kept."""
    two = (side == k) | (side == k + 1)
    py, px, right = ys[two], sheared[two], side[two] == k + 1
    out, seen = [], [~right]
    for path, ink in cut[1:]:
        left = px <= path[py]
        if left.all() or not left.any():
            continue
        if any((left != other).sum() < SAME_SHAPE * len(left) for other in seen):
            continue
        seen.append(left)
        out.append(
            _Variant(-1, py + at[0], xs[two] + at[1], right.astype(np.int64), left, ink, at[2])
        )
        if len(out) == MAX_SHAPES:
            break
    return out


def _split(label_map, boxes, keep, line_height, slant, middle):
    """Each kept component as pieces (box, pixel rows, pixel columns), wide ones cut along
    valleys that follow the slant; the cuts (x at mid-line, ink pixels cut, left piece,
    right piece); and the cuts' other shapes (``_Variant``, with ``piece`` 0 for the
    left piece and 1 for the right, and ``gap`` the left piece's index)."""
    pieces, cuts, variants = [], [], []
    for c in np.flatnonzero(keep):
        bx0, by0, bx1, by1 = boxes[c]
        ys, xs = np.nonzero(label_map[by0:by1, bx0:bx1] == c + 1)
        sheared = np.floor(xs + bx0 + slant * (ys + by0 - middle)).astype(np.int64)
        origin = int(sheared.min())
        sheared -= origin
        at = []
        if bx1 - bx0 > CUT_WIDTH * line_height:
            at = _component_cuts(ys, sheared, line_height)
        side = np.zeros(len(ys), np.int64)
        for (path, _), *_ in at:
            side += sheared > path[ys]
        sizes = np.bincount(side, minlength=len(at) + 1)
        first = len(pieces)
        for k in np.flatnonzero(sizes):
            py, px = ys[side == k] + by0, xs[side == k] + bx0
            pieces.append(((px.min(), py.min(), px.max() + 1, py.max() + 1), py, px))
        rank = np.cumsum(sizes > 0) - 1  # a cut with no ink on one side joins nothing
        for k, cut in enumerate(at):
            if sizes[k] and sizes[k + 1]:
                path, ink = cut[0]
                x = int(origin + path[min(max(middle - by0, 0), len(path) - 1)])
                cuts.append((x, ink, first + rank[k], first + rank[k + 1]))
                shapes = _shapes(ys, xs, sheared, side, k, cut, (by0, bx0, x))
                variants += [replace(v, gap=first + rank[k]) for v in shapes]
    if len(pieces) > MAX_PIECES:
        raise ReadingError("too_many_pieces", count=len(pieces), limit=MAX_PIECES)
    return pieces, cuts, variants


def over_segment(ink: np.ndarray) -> Pieces | None:
    """Components, specks dropped, wide ones cut: the pieces, left to right; None when
    there is no ink. Raises ReadingError for input that is not a written number."""
    peak = float(ink.max())
    full = 255.0 if ink.dtype == np.uint8 else 1.0
    if not np.isfinite(peak) or peak <= 0.02 * full:
        return None
    mask = ink > INK_THRESHOLD * peak
    label_map, boxes = label_components(mask)
    line_height = int((boxes[:, 3] - boxes[:, 1]).max())
    keep = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= SPECK * line_height
    _check_line(mask, boxes, keep)
    middle = int((boxes[keep, 1].min() + boxes[keep, 3].max()) // 2)
    ys, xs = np.nonzero(np.isin(label_map, np.flatnonzero(keep) + 1))
    slant = estimate_slant(ys, xs, middle)
    pieces, cuts, variants = _split(label_map, boxes, keep, line_height, slant, middle)
    # Left to right by the middle of each piece, measured along the slant.
    order = sorted(
        range(len(pieces)), key=lambda k: np.mean(pieces[k][2] + slant * (pieces[k][1] - middle))
    )
    rank = {k: i for i, k in enumerate(order)}
    piece_map = np.zeros(mask.shape, np.int32)
    piece_map[mask] = -1  # specks, unless claimed by a piece below
    for i, k in enumerate(order):
        piece_map[pieces[k][1], pieces[k][2]] = i + 1
    # A cut's other shapes, where its two pieces are neighbours in this order.
    shapes = [
        replace(v, gap=rank[v.gap + 1], piece=v.piece + rank[v.gap])
        for v in variants
        if rank[v.gap + 1] == rank[v.gap] + 1
    ]
    return Pieces(
        piece_map,
        np.array([pieces[k][0] for k in order]),
        sorted((x, n, rank[a], rank[b]) for x, n, a, b in cuts),
        line_height,
        slant,
        middle,
        shapes,
    )


# ----------------------------------------------------------------------------- candidates


def _piece_spans(p: Pieces) -> list[tuple[int, int]]:
    """The runs of pieces (start, stop) a candidate may join: up to MAX_JOIN neighbouring
    pieces, no wider than a digit can be and with no gap wider than MERGE_GAP line
    heights between them."""
    spans = []
    for start in range(len(p.boxes)):
        right = p.boxes[start, 2]
        for stop in range(start + 1, min(start + MAX_JOIN, len(p.boxes)) + 1):
            box = p.boxes[stop - 1]
            if stop - start > 1 and box[0] - right > MERGE_GAP * p.line_height:
                break
            right = max(right, box[2])
            x0 = p.boxes[start:stop, 0].min()
            if stop - start > 1 and right - x0 > MAX_DIGIT_WIDTH * p.line_height:
                break
            spans.append((start, stop))
    return spans


def candidate_spans(p: Pieces) -> list[tuple[int, int]]:
    """The candidates (start node, stop node): each run of pieces, between every shape of
    the cut at its left end and every shape of the cut at its right end."""
    at: dict[int, list[int]] = {}
    for node, (gap, _) in enumerate(p.nodes):
        at.setdefault(gap, []).append(node)
    spans = [(u, w) for a, b in _piece_spans(p) for u in at[a] for w in at[b]]
    if len(spans) <= MAX_CANDIDATES:
        return spans
    # Too many: those between the first shapes (the pieces' own cuts), then those with
    # another shape at one end, then at both, up to MAX_CANDIDATES.
    others = [(p.nodes[u][1] >= 0) + (p.nodes[w][1] >= 0) for u, w in spans]
    return sorted(
        spans[k] for k in sorted(range(len(spans)), key=others.__getitem__)[:MAX_CANDIDATES]
    )


def candidate_mask(p: Pieces, start: int, stop: int, box: Box) -> np.ndarray:
    """Which pixels of ``box`` belong to the candidate from node start to node stop: its
    pieces' (and faint ink of no piece), the pixels of the pieces beside each end that
    the end's cut shape gives it, less those of its end pieces it gives away."""
    (a, va), (b, vb) = p.nodes[start], p.nodes[stop]
    x0, y0, x1, y1 = box
    own = np.zeros(len(p.boxes) + 2, bool)
    own[a + 1 : b + 1] = True
    own[0] = True  # faint ink
    mine = own[p.piece_map[y0:y1, x0:x1]]
    for v, outer, keep_left in ((va, a - 1, False), (vb, b, True)):
        if v >= 0:
            var = p.variants[v]
            at = (var.ys - y0, var.xs - x0)
            side = var.left if keep_left else ~var.left
            mine[at] = side & (mine[at] | (var.piece == outer))
    return mine


def candidate_outer_box(p: Pieces, start: int, stop: int) -> Box:
    """A box around every pixel the candidate from node start to node stop may hold."""
    (a, va), (b, vb) = p.nodes[start], p.nodes[stop]
    lo, hi = a - (va >= 0), b + (vb >= 0)  # the pieces beside a cut shape lend pixels
    return tuple(int(v) for v in (*p.boxes[lo:hi, :2].min(0), *p.boxes[lo:hi, 2:].max(0)))


def candidate_ink(ink: np.ndarray, p: Pieces, start: int, stop: int) -> tuple[Box, np.ndarray]:
    """The candidate's box and its ink there, without the pixels of other pieces and of
    specks (faint ink belonging to no piece is kept, as the draw page keeps it)."""
    outer = candidate_outer_box(p, start, stop)
    mine = candidate_mask(p, start, stop, outer)
    if p.nodes[start][1] >= 0 or p.nodes[stop][1] >= 0:  # the box of what it holds
        strong = mine & (p.piece_map[outer[1] : outer[3], outer[0] : outer[2]] > 0)
        rows, cols = np.flatnonzero(strong.any(1)), np.flatnonzero(strong.any(0))
        if len(rows):
            x0, y0 = outer[0] + cols[0], outer[1] + rows[0]
            box = (int(x0), int(y0), int(outer[0] + cols[-1] + 1), int(outer[1] + rows[-1] + 1))
            mine = mine[y0 - outer[1] : box[3] - outer[1], x0 - outer[0] : box[2] - outer[0]]
            outer = box
    box = tuple(int(v) for v in outer)
    x0, y0, x1, y1 = box
    return box, np.where(mine, ink[y0:y1, x0:x1], 0).astype(ink.dtype)


def _blank_columns(p: Pieces, start: int, stop: int) -> int:
    """Columns of the candidate's box that none of its pieces covers (gaps between them)."""
    covered, right = 0, -1
    for x0, x1 in sorted((int(b[0]), int(b[2])) for b in p.boxes[start:stop]):
        covered += max(0, x1 - max(x0, right))
        right = max(right, x1)
    return int(p.boxes[start:stop, 2].max() - p.boxes[start:stop, 0].min()) - covered


def _prior(p: Pieces, start: int, stop: int, box: Box) -> float:
    """Log-prior of a candidate, per column: digits are most of the line's height, at
    most about as wide as tall, pieces apart are rarely one digit, and cutting through
    ink has a cost."""
    (a, va), (b, vb) = p.nodes[start], p.nodes[stop]
    w, h = box[2] - box[0], box[3] - box[1]
    short = max(0.0, SHORT - h / p.line_height) / SHORT
    wide = max(0.0, w / h - WIDE)
    apart = _blank_columns(p, a, b) / p.line_height
    # Half of each cut that separates this candidate's pieces from the others': a path
    # pays once for every cut it makes through ink (the paper's segmentation penalty).
    # A cut shape other than the first at either end replaces that cut.
    inside = range(a, b)
    cuts = {(left, right): ink for _, ink, left, right in p.cuts}
    for v in (va, vb):
        if v >= 0:
            var = p.variants[v]
            cuts[var.gap - 1, var.gap] = var.ink
    cut = sum(ink for (left, right), ink in cuts.items() if (left in inside) != (right in inside))
    return (
        -SHORT_PENALTY * short - WIDE_PENALTY * wide - JOIN_PENALTY * apart - CUT_COST * cut / 2 / w
    )


@torch.inference_mode()
def score_candidates(
    ink: np.ndarray, p: Pieces, model: LeNet5, scorer: LeNet5 | None = None
) -> list[Candidate]:
    """Every candidate, normalised as the draw page does and read in one forward pass;
    with a segment scorer (``lenet.segments``), also its probability of being no digit.
    A candidate whose cut shapes leave it no ink is left out."""
    spans, boxes, images = [], [], []
    for a, b in candidate_spans(p):
        box, crop = candidate_ink(ink, p, a, b)
        steps = ink_to_steps(crop)
        if steps is not None:
            spans.append((a, b))
            boxes.append(box)
            images.append(steps.centred28)
    x = to_tensor(np.stack(images))
    probs = torch.softmax(model(x), dim=1).numpy()
    none = np.zeros(len(x))
    if scorer is not None:
        sp = torch.softmax(scorer(x), dim=1).numpy()
        none = sp[:, -1]
        given_digit = sp[:, :-1] / np.maximum(1 - none[:, None], 1e-12)
        mixed = probs ** (1 - SCORER_SHARE) * given_digit**SCORER_SHARE
        probs = mixed / mixed.sum(1, keepdims=True)
    digits = probs.argmax(1)
    nodes = p.nodes
    return [
        Candidate(
            a,
            b,
            box,
            int(d),
            float(pr[d]),
            _prior(p, a, b, box),
            im,
            pr,
            float(no),
            pieces=nodes[b][0] - nodes[a][0],
        )
        for (a, b), box, d, pr, im, no in zip(
            spans, boxes, digits, probs, images, none, strict=True
        )
    ]


def best_path(candidates: list[Candidate], last: int) -> list[int]:
    """The left-to-right path through the graph (node 0 to node ``last``; every candidate
    goes from a node to a later one) with the highest sum of width x score, i.e. the
    best mean score per column: dynamic programming."""
    best = np.full(last + 1, -np.inf)
    best[0] = 0.0
    came_from = [-1] * (last + 1)
    by_stop: dict[int, list[int]] = {}
    for i, c in enumerate(candidates):
        by_stop.setdefault(c.stop, []).append(i)
    for stop in range(1, last + 1):
        for i in by_stop.get(stop, []):
            c = candidates[i]
            total = best[c.start] + _width(c.box) * c.score
            if total > best[stop]:
                best[stop], came_from[stop] = total, i
    path, node = [], last
    while node > 0:
        path.append(came_from[node])
        node = candidates[came_from[node]].start
    return path[::-1]


def read_number(image: np.ndarray, model: LeNet5, scorer: LeNet5 | None = None) -> Reading:
    """Read the number written in ``image``: an RGBA canvas (H, W, 4) uint8, white ink on
    black, or an ink map (H, W). An empty image gives an empty Reading; input that cannot
    be a written number raises ReadingError (a ValueError) with a reason code."""
    ink, f = _working(ink_of(image))
    pieces = over_segment(ink)
    if pieces is None:
        return EMPTY
    candidates = score_candidates(ink, pieces, model, scorer)
    path = best_path(candidates, len(pieces.nodes) - 1)
    if f != 1.0:
        candidates = [_rescaled(c, f) for c in candidates]
    chosen = [candidates[i] for i in path]
    return Reading(
        digits="".join(str(c.digit) for c in chosen),
        boxes=[c.box for c in chosen],
        confidences=[c.sure for c in chosen],
        images=[c.image for c in chosen],
        pieces=[_scale_box(tuple(int(v) for v in b), f) for b in pieces.boxes],
        cuts=[round(c[0] / f) for c in pieces.cuts],
        candidates=candidates,
        path=path,
        line_height=round(pieces.line_height / f),
        nodes=[x / f for x in pieces.node_x()],
    )


def _scale_box(box: Box, f: float) -> Box:
    return box if f == 1.0 else tuple(round(v / f) for v in box)  # type: ignore[return-value]


def _rescaled(c: Candidate, f: float) -> Candidate:
    return replace(c, box=_scale_box(c.box, f))


# ----------------------------------------------------------------------------- sliding view


@torch.inference_mode()
def sliding_outputs(image: np.ndarray, model: LeNet5) -> tuple[np.ndarray, np.ndarray]:
    """The network at every horizontal position of the line (the paper's space-displacement
    view): the line is scaled so its ink is SLIDE_HEIGHT px high, as a digit in MNIST, and
    read through 32x32 windows every SLIDE_STRIDE px, in one batch. The windows every 4 px
    are exactly what C5, F6 and the output run as convolutions over the whole strip give
    (C1 to S4 subsample by 4); every 2 px samples twice as finely.

    Returns the windows' centres (x in the input's pixels) and their softmax outputs
    (N, 10); empty arrays for an empty image."""
    ink = ink_of(image)
    peak = float(ink.max())
    mask = ink > INK_THRESHOLD * peak if peak > 0 else np.zeros(ink.shape, bool)
    if not mask.any():
        return np.zeros(0), np.zeros((0, 10))
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / peak
    scale = SLIDE_HEIGHT / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale))
    fitted = np.asarray(
        Image.fromarray(crop, "F").resize((width, SLIDE_HEIGHT), Image.Resampling.LANCZOS)
    ).clip(0, 1)
    half = INPUT_SIZE // 2
    strip = np.zeros((INPUT_SIZE, width + INPUT_SIZE), np.float32)
    mass = fitted.sum(1)
    top = int(round((INPUT_SIZE - 1) / 2 - mass @ np.arange(SLIDE_HEIGHT) / max(mass.sum(), 1e-6)))
    top = min(max(top, 0), INPUT_SIZE - SLIDE_HEIGHT)
    strip[top : top + SLIDE_HEIGHT, half : half + width] = fitted
    stride = max(SLIDE_STRIDE, int(np.ceil((width + 1) / MAX_WINDOWS)))
    starts = np.arange(0, width + 1, stride)
    windows = np.lib.stride_tricks.sliding_window_view(strip, INPUT_SIZE, axis=1)[:, starts]
    x = torch.from_numpy(np.ascontiguousarray(windows.transpose(1, 0, 2))).unsqueeze(1)
    probs = torch.softmax(model(x), dim=1).numpy()
    positions = cols[0] + starts / scale
    return positions, probs
