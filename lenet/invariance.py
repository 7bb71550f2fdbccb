"""The invariance lab: LeNet-5's shift, scale, rotation, squeeze, stroke-width and noise
demonstrations (LeCun et al. 1998, and the animations on LeCun's LeNet-5 page), on any
28x28 digit, and measured.

- ``transform``: one digit through the distortions, in a fixed order: stroke width
  (grey-level erosion/dilation with a 3x3 square), one affine map about the image centre
  (scale, squeeze, shear, rotation; bilinear, torch's ``affine_grid``/``grid_sample``),
  a whole-pixel shift (``lenet.preprocess.shift``), an occluding box, then noise (Gaussian
  and salt-and-pepper, from one seeded pattern, so a larger amount adds to the same noise).
- ``TRANSFORMS``: each scalar transform's range, step, unit and neutral value, shared by
  the page's sliders and the sweeps.
- ``sweep``: one transform across values, one batched forward pass; ``kept_range``: where
  the answer holds. ``class_sweep``: accuracy over many digits for several networks.
- ``equivariance``: C1's maps of a shifted digit against C1's maps shifted, and how much
  each deeper layer changes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lenet.model import LeNet5
from lenet.preprocess import MNIST_SIZE, to_tensor
from lenet.preprocess import shift as shift_pixels

SWEEP_POINTS = 41  # the sweep of one digit
CLASS_SWEEP_POINTS = 11  # the sweep over the sample's digits (x 300 digits x 3 networks)
MAX_SWEEP_POINTS = 201  # bounds the work one request can cause
MAX_OCCLUDE = 20  # the occluding box's largest side, in pixels
CHUNK = 512  # images per forward pass in the class sweep (big batches are slower on CPU)
LAYERS = ("c1", "s2", "c3", "s4", "c5", "f6", "output")


class TransformError(ValueError):
    """A value the lab cannot use. ``reason`` is a short code the page translates and
    ``fields`` fill its message."""

    def __init__(self, reason: str, **fields: object):
        super().__init__(f"{reason}: {fields}" if fields else reason)
        self.reason, self.fields = reason, fields


@dataclass(frozen=True)
class Spec:
    """One scalar transform: its slider's range and step, its unit, its neutral value."""

    name: str
    low: float
    high: float
    step: float
    unit: str  # "px", "deg", "times", "ratio", "fraction", "std"
    neutral: float
    integer: bool = False  # whole numbers only

    @property
    def decimals(self) -> int:
        """Decimals that show every step of the slider."""
        return 0 if self.integer else max(0, -math.floor(math.log10(self.step) + 1e-9))

    def values(self, points: int = SWEEP_POINTS) -> np.ndarray:
        """``points`` values evenly over the whole range (whole numbers: each at most once)."""
        values = np.linspace(self.low, self.high, points)
        return np.unique(np.round(values)) if self.integer else np.round(values, 6)


TRANSFORMS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("shift_rows", -10, 10, 1, "px", 0, integer=True),  # positive: down
        Spec("shift_cols", -10, 10, 1, "px", 0, integer=True),  # positive: right
        Spec("rotate", -90, 90, 1, "deg", 0),  # counter-clockwise
        Spec("scale", 0.5, 1.5, 0.05, "times", 1),
        Spec("squeeze", 0.5, 1.5, 0.05, "times", 1),  # the width times this, height kept
        Spec("shear", -0.6, 0.6, 0.05, "ratio", 0),  # positive: the top leans right
        Spec(
            "stroke", -2, 3, 1, "px", 0, integer=True
        ),  # + thicker (dilation), - thinner (erosion)
        Spec("noise", 0, 0.5, 0.01, "fraction", 0),  # salt-and-pepper: fraction of pixels
        Spec("gaussian", 0, 0.5, 0.01, "std", 0),  # Gaussian: std, 1 = full ink
    )
}


@dataclass(frozen=True)
class Params:
    shift: tuple[int, int] = (0, 0)
    rotate: float = 0.0
    scale: float = 1.0
    squeeze: float = 1.0
    shear: float = 0.0
    stroke: int = 0
    noise: float = 0.0
    gaussian: float = 0.0
    occlude: tuple[int, int, int, int] | None = None  # (top, left, height, width)
    seed: int = 0


def format_value(name: str, value: float) -> str:
    """A transform's value for a sentence: "+40°", "−3 px", "0.75×", "12%", "+0.20", "σ 0.10"."""
    spec = _spec(name)
    sign = "+" if value > 0 and spec.neutral == 0 else ""
    if spec.unit == "deg":
        text = f"{sign}{value:g}°"
    elif spec.unit == "px":
        text = f"{sign}{int(round(value))} px"
    elif spec.unit == "times":
        text = f"{value:.2f}×"
    elif spec.unit == "fraction":
        text = f"{value:.0%}"
    elif spec.unit == "std":
        text = f"σ {value:.2f}"
    else:
        text = f"{sign}{value:.2f}"
    return text.replace("-", "\u2212")


# ---------------------------------------------------------------------------------------------
# Checking what the page or a caller passes
# ---------------------------------------------------------------------------------------------


def _spec(name: str) -> Spec:
    if name not in TRANSFORMS:
        raise TransformError("unknown", name=name, names=", ".join(TRANSFORMS))
    return TRANSFORMS[name]


def check_value(name: str, value: object) -> float:
    """``value`` as a float within ``name``'s range (a whole number where it must be one)."""
    spec = _spec(name)
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TransformError("not_number", name=name, value=repr(value)[:40]) from None
    if not math.isfinite(v):
        raise TransformError("not_finite", name=name)
    if not spec.low - 1e-9 <= v <= spec.high + 1e-9:
        raise TransformError("out_of_range", name=name, value=v, low=spec.low, high=spec.high)
    if spec.integer and not v.is_integer():
        raise TransformError("not_integer", name=name, value=v)
    return v


def check_image(image28: object) -> np.ndarray:
    if not isinstance(image28, np.ndarray) or image28.dtype != np.uint8:
        kind = image28.dtype if isinstance(image28, np.ndarray) else type(image28).__name__
        raise TransformError("image", got=str(kind))
    if image28.shape != (MNIST_SIZE, MNIST_SIZE):
        raise TransformError("image", got=str(image28.shape))
    return image28


def check_box(box: object) -> tuple[int, int, int, int] | None:
    """An occluding box (top, left, height, width) inside the 28x28 field, or None."""
    if box is None:
        return None
    try:
        top, left, height, width = (int(v) for v in box)  # type: ignore[union-attr]
        exact = all(float(v) == int(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError, OverflowError):
        raise TransformError("box", box=repr(box)[:60]) from None
    inside = 0 <= top < MNIST_SIZE and 0 <= left < MNIST_SIZE
    if not (exact and inside and 1 <= height <= MAX_OCCLUDE and 1 <= width <= MAX_OCCLUDE):
        raise TransformError("box", box=repr(box)[:60])
    return top, left, height, width


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise TransformError("seed", seed=repr(seed)[:40])
    return int(seed)


def params(
    *,
    shift=(0, 0),
    rotate=0.0,
    scale=1.0,
    squeeze=1.0,
    shear=0.0,
    stroke=0,
    noise=0.0,
    gaussian=0.0,
    occlude=None,
    seed=0,
) -> Params:
    """Checked transform settings (TransformError names the first bad one)."""
    try:
        rows, cols = shift
    except (TypeError, ValueError):
        raise TransformError("shift", shift=repr(shift)[:40]) from None
    return Params(
        shift=(int(check_value("shift_rows", rows)), int(check_value("shift_cols", cols))),
        rotate=check_value("rotate", rotate),
        scale=check_value("scale", scale),
        squeeze=check_value("squeeze", squeeze),
        shear=check_value("shear", shear),
        stroke=int(check_value("stroke", stroke)),
        noise=check_value("noise", noise),
        gaussian=check_value("gaussian", gaussian),
        occlude=check_box(occlude),
        seed=check_seed(seed),
    )


def settings_for(name: str, value: float) -> dict:
    """The keyword arguments of ``transform`` that set transform ``name`` to ``value``."""
    _spec(name)
    if name == "shift_rows":
        return {"shift": (value, 0)}
    if name == "shift_cols":
        return {"shift": (0, value)}
    return {name: value}


# ---------------------------------------------------------------------------------------------
# The transforms
# ---------------------------------------------------------------------------------------------


def affine_matrix(p: Params) -> np.ndarray:
    """The 2x2 map (x right, y down, about the centre) that moves the digit's ink:
    rotation . shear . squeeze . scale. Identity when all four are neutral."""
    a = math.radians(p.rotate)
    rotation = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    shear = np.array([[1.0, -p.shear], [0.0, 1.0]])  # rows above the centre (y < 0) go right
    squeeze = np.diag([p.squeeze, 1.0])
    return rotation @ shear @ squeeze * p.scale


def _morph(x: torch.Tensor, stroke: int) -> torch.Tensor:
    """Grey-level dilation (stroke > 0) or erosion (< 0) with a 3x3 square, |stroke| times."""
    for _ in range(abs(stroke)):
        x = F.max_pool2d(x, 3, 1, 1) if stroke > 0 else -F.max_pool2d(-x, 3, 1, 1)
    return x


def _affine(x: torch.Tensor, inverses: np.ndarray) -> torch.Tensor:
    """Each image of x (K, 1, 28, 28) resampled through its own inverse map (K, 2, 2)."""
    # grid_sample reads, for each output pixel, the input at theta @ (x, y): the inverse map.
    # Normalised coordinates (-1..1 edge to edge, align_corners=False) are the same scale on
    # both axes of a square image, so the geometric matrix applies unchanged.
    # A sweep repeats a few maps over many digits: one grid per distinct map.
    distinct, which = np.unique(inverses.reshape(len(x), 4), axis=0, return_inverse=True)
    theta = np.zeros((len(distinct), 2, 3), dtype=np.float32)
    theta[:, :, :2] = distinct.reshape(-1, 2, 2)
    size = [len(distinct), *x.shape[1:]]
    grid = F.affine_grid(torch.from_numpy(theta), size, align_corners=False)
    grid = grid[torch.from_numpy(which.ravel())]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@functools.lru_cache(maxsize=64)
def noise_pattern(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seed's noise: a uniform field (which pixels salt-and-pepper hits first), a coin
    per pixel (salt or pepper) and a standard normal field (Gaussian noise). Read-only."""
    rng = np.random.default_rng(seed)
    shape = (MNIST_SIZE, MNIST_SIZE)
    fields = rng.random(shape), rng.random(shape) < 0.5, rng.standard_normal(shape)
    for f in fields:
        f.flags.writeable = False
    return fields


def _add_noise(images: np.ndarray, p: Params) -> np.ndarray:
    order, salt, normal = noise_pattern(p.seed)
    x = images.astype(np.float32)
    if p.gaussian:
        x = x + np.float32(p.gaussian * 255) * normal.astype(np.float32)
    hit = order < p.noise
    x = np.where(hit, np.where(salt, np.float32(255), np.float32(0)), x)
    return np.round(np.clip(x, 0, 255)).astype(np.uint8)


def _resample(out: np.ndarray, strokes: np.ndarray, inverses: np.ndarray, warp: np.ndarray):
    """Stroke width, then the affine map, on the images that need them (one call each)."""
    x = torch.from_numpy(out).to(torch.float32).unsqueeze(1)
    for stroke in np.unique(strokes[strokes != 0]):
        x[strokes == stroke] = _morph(x[strokes == stroke], int(stroke))
    if warp.any():
        x[torch.from_numpy(warp)] = _affine(x[torch.from_numpy(warp)], inverses[warp])
    return x.squeeze(1).round_().clamp_(0, 255).to(torch.uint8).numpy()


def apply_all(images: np.ndarray, settings: Sequence[Params]) -> np.ndarray:
    """Every checked ``Params`` applied to every image of a (N, 28, 28) uint8 stack:
    (len(settings) * N, 28, 28), settings-major. The stroke and affine steps of the whole
    batch run as one torch call each."""
    n = len(images)
    out = np.concatenate([images] * len(settings))
    matrices = np.stack([affine_matrix(p) for p in settings])
    warp = np.repeat(np.abs(matrices - np.eye(2)).max(axis=(1, 2)) > 1e-12, n)
    strokes = np.repeat([p.stroke for p in settings], n)
    if warp.any() or strokes.any():
        inverses = np.repeat(np.linalg.inv(matrices), n, axis=0)
        out = _resample(out, strokes, inverses, warp)
    for k, p in enumerate(settings):
        block = out[k * n : (k + 1) * n]
        if p.shift != (0, 0):
            block[:] = shift_pixels(block, *p.shift)
        if p.occlude is not None:
            top, left, height, width = p.occlude
            block[..., top : top + height, left : left + width] = 0
        if p.noise or p.gaussian:
            block[:] = _add_noise(block, p)
    return out


def apply(images: np.ndarray, p: Params) -> np.ndarray:
    """Checked settings ``p`` applied to every image of a (N, 28, 28) uint8 stack."""
    return apply_all(images, [p])


def transform(
    image28: np.ndarray,
    *,
    shift=(0, 0),
    rotate=0.0,
    scale=1.0,
    squeeze=1.0,
    shear=0.0,
    stroke=0,
    noise=0.0,
    gaussian=0.0,
    occlude=None,
    seed=0,
) -> np.ndarray:
    """A 28x28 uint8 digit distorted (the neutral values return it unchanged, as a copy).

    ``shift=(rows, columns)`` in whole pixels, positive = down, right; ``rotate`` in degrees,
    counter-clockwise; ``scale`` and ``squeeze`` (the width alone) as factors; ``shear``
    moves each row sideways by ``shear`` times its height above the centre; ``stroke`` in
    pixels (+ thicker, − thinner); ``noise``: the fraction of pixels set to black or white
    (salt and pepper); ``gaussian``: the standard deviation of added Gaussian noise (1 = full
    ink); ``occlude=(top, left, height, width)`` blanks a box; ``seed`` fixes the noise.
    Raises TransformError (a ValueError) for a value out of TRANSFORMS' ranges."""
    p = params(
        shift=shift,
        rotate=rotate,
        scale=scale,
        squeeze=squeeze,
        shear=shear,
        stroke=stroke,
        noise=noise,
        gaussian=gaussian,
        occlude=occlude,
        seed=seed,
    )
    return apply(check_image(image28)[None], p)[0]


# ---------------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------------


def check_values(name: str, values: object) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TransformError("values", count=MAX_SWEEP_POINTS) from None
    if arr.ndim != 1 or not 1 <= len(arr) <= MAX_SWEEP_POINTS:
        raise TransformError("values", count=MAX_SWEEP_POINTS)
    return np.array([check_value(name, v) for v in arr])


def swept_images(images: np.ndarray, name: str, values, base: Params | None = None) -> np.ndarray:
    """(V * N, 28, 28): every image of the (N, 28, 28) stack at each value, value-major."""
    base = vars(base or Params())
    settings = [params(**{**base, **settings_for(name, v)}) for v in check_values(name, values)]
    return apply_all(images, settings)


@torch.inference_mode()
def probabilities(model: LeNet5, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, 10) of a uint8 stack, in one forward pass."""
    return F.softmax(model(to_tensor(images)), dim=1).numpy()


def sweep(model: LeNet5, image28: np.ndarray, name: str, values) -> np.ndarray:
    """(len(values), 10) probabilities of ``image28`` with transform ``name`` set to each
    value (the others neutral), from one batched forward pass."""
    return probabilities(model, swept_images(check_image(image28)[None], name, values))


@dataclass(frozen=True)
class KeptRange:
    """Where a network keeps the answer it gives at the neutral value: the contiguous run
    of values around the neutral one with the same winner."""

    digit: int  # the answer at the neutral value
    low: float
    high: float
    whole: bool  # kept over every value swept
    winners: np.ndarray  # the winning digit at each value


def kept_range(name: str, values, probs: np.ndarray) -> KeptRange:
    values = check_values(name, values)
    winners = np.asarray(probs).argmax(axis=1)
    i = int(np.argmin(np.abs(values - _spec(name).neutral)))
    digit = int(winners[i])
    lo = hi = i
    while lo > 0 and winners[lo - 1] == digit:
        lo -= 1
    while hi < len(values) - 1 and winners[hi + 1] == digit:
        hi += 1
    whole = lo == 0 and hi == len(values) - 1
    return KeptRange(digit, float(values[lo]), float(values[hi]), whole, winners)


def class_sweep(
    models: Mapping[str, LeNet5], images: np.ndarray, labels: np.ndarray, name: str, values
) -> dict[str, np.ndarray]:
    """Accuracy (len(values),) of each model on the (N, 28, 28) digits with transform
    ``name`` at each value: the images are transformed once, then each model reads them
    in batches of CHUNK."""
    values = check_values(name, values)
    stack = swept_images(images, name, values)
    truth = np.tile(np.asarray(labels), len(values))
    out = {}
    with torch.inference_mode():
        for label, model in models.items():
            guesses = np.concatenate(
                [
                    model(to_tensor(stack[i : i + CHUNK])).argmax(1).numpy()
                    for i in range(0, len(stack), CHUNK)
                ]
            )
            out[label] = (guesses == truth).reshape(len(values), -1).mean(axis=1)
    return out


@dataclass(frozen=True)
class AccuracySummary:
    at_neutral: float
    lowest: float
    lowest_at: float


def accuracy_summary(name: str, values, accuracy: Sequence[float]) -> AccuracySummary:
    values, accuracy = check_values(name, values), np.asarray(accuracy)
    i = int(np.argmin(np.abs(values - _spec(name).neutral)))
    j = int(np.argmin(accuracy))
    return AccuracySummary(float(accuracy[i]), float(accuracy[j]), float(values[j]))


# ---------------------------------------------------------------------------------------------
# Equivariance and invariance
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Equivariance:
    shift: tuple[int, int]
    c1_of_shifted: np.ndarray  # (6, 28, 28): C1's maps of the shifted digit
    shifted_c1: np.ndarray  # (6, 28, 28): C1's maps of the digit, shifted
    correlation: float  # of the two, over the cells both define
    relative_error: float  # |a - b| / |b| over those cells
    ink_kept: float  # the fraction of the digit's ink still inside the field after the shift
    relative_change: dict[str, float]  # per layer: |layer(shifted) - layer(digit)| / |layer(digit)|


def _inside(shape: tuple[int, int], dy: int, dx: int) -> tuple[slice, slice]:
    """The cells of a map shifted by (dy, dx) that come from the map (not the zero fill)."""
    h, w = shape
    return slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / scale if scale > 0 else 0.0


@torch.inference_mode()
def equivariance(model: LeNet5, image28: np.ndarray, shift: tuple[int, int]) -> Equivariance:
    """Convolution commutes with shifting: C1 of the shifted digit equals C1 of the digit
    shifted, except where the shift pushed ink out of the field or at the filled border,
    which is why the match is measured on the cells both maps define. The deeper layers
    are compared with the unshifted digit's, at the same positions (invariance)."""
    p = params(shift=shift)
    image = check_image(image28)
    moved = apply(image[None], p)[0]
    acts = model.activations(to_tensor(np.stack([image, moved])))
    acts = {("output" if k == "logits" else k): v.numpy() for k, v in acts.items()}
    c1_of_shifted, shifted_c1 = acts["c1"][1], shift_pixels(acts["c1"][0], *p.shift)
    rows, cols = _inside(c1_of_shifted.shape[-2:], *p.shift)
    a, b = c1_of_shifted[:, rows, cols].ravel(), shifted_c1[:, rows, cols].ravel()
    correlation = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 1.0
    total = float(image.sum(dtype=np.int64))
    return Equivariance(
        shift=p.shift,
        c1_of_shifted=c1_of_shifted,
        shifted_c1=shifted_c1,
        correlation=correlation,
        relative_error=_relative(a, b),
        ink_kept=float(moved.sum(dtype=np.int64)) / total if total else 1.0,
        relative_change={k: _relative(acts[k][1], acts[k][0]) for k in LAYERS},
    )
