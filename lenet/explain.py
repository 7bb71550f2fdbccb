"""Why this digit? The gradient that reaches the input pixels, occlusion maps, and fooling
the network with small targeted changes (targeted iterative FGSM).

Every function reads a 28x28 digit as the model does: pixels on the 0…1 scale (0 =
background, 1 = full ink), zero-padded to 32x32, then mapped by the model onto its own
input range (``LeNet5.scale_input``). Gradients are taken with respect to the 28x28 [0, 1]
pixels, before the padding. The shared (cached) model is never changed: no ``.train()``,
no parameter gradients; only tensors created here require a gradient.

References: Simonyan, Vedaldi & Zisserman 2014 (saliency maps); Zeiler & Fergus 2014
(occlusion); Goodfellow et al. 2015 and Kurakin et al. 2017 (the fast gradient sign
method and its iterative, targeted form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lenet.model import LeNet5
from lenet.preprocess import MNIST_SIZE, PAD

CLASSES = 10
MAX_STEPS = 200  # the most signed-gradient steps one call of ``fool`` may take
STEP_FRACTION = 0.25  # each step changes a pixel by at most this fraction of epsilon
SEARCH_STEPS = 20  # steps per try when searching for the smallest epsilon
SEARCH_ROUNDS = 6  # bisection rounds: the smallest epsilon to within 1/64
SEARCH_DIGITS_PER_CLASS = 5  # sample digits per class for the smallest epsilon "over the sample"


class ExplainInputError(ValueError):
    """Bad input for the page, with a reason the page translates and the fields to fill in.

    reason is one of: target, epsilon, steps, patch, stride, image_shape, image_dtype,
    image_values.
    """

    def __init__(self, reason: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.fields = fields


# ----------------------------------------------------------------------------- checks


def _check_target(target) -> int:
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise ExplainInputError(
            "target", f"target must be a digit 0..9, got {target!r}", value=target
        )
    if not 0 <= int(target) < CLASSES:
        raise ExplainInputError(
            "target", f"target must be a digit 0..9, got {target}", value=target
        )
    return int(target)


def _check_int(value, name: str, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not low <= value <= high
    ):
        raise ExplainInputError(
            name,
            f"{name} must be a whole number from {low} to {high}, got {value!r}",
            value=value,
            low=low,
            high=high,
        )
    return int(value)


def _check_epsilon(epsilon) -> float:
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        eps = float("nan")
    if not 0.0 < eps <= 1.0:  # also False for NaN
        raise ExplainInputError(
            "epsilon",
            f"epsilon must be in (0, 1] on the 0…1 pixel scale, got {epsilon!r}",
            value=epsilon,
        )
    return eps


def unit_pixels(images) -> torch.Tensor:
    """A 28x28 digit, or a stack (N, 28, 28), as float32 pixels on the 0…1 scale: uint8
    is divided by 255, floats must already lie in 0…1. Anything else raises
    ExplainInputError (shape, dtype, NaN or out of range)."""
    if not isinstance(images, np.ndarray):
        raise ExplainInputError(
            "image_dtype",
            f"the digit must be a numpy array, got {type(images).__name__}",
            dtype=type(images).__name__,
        )
    if images.ndim not in (2, 3) or images.shape[-2:] != (MNIST_SIZE, MNIST_SIZE):
        raise ExplainInputError(
            "image_shape",
            f"the digit must be 28x28, got shape {images.shape}",
            shape="×".join(map(str, images.shape)),
        )
    if images.dtype == np.uint8:
        return torch.from_numpy(images.astype(np.float32) / np.float32(255.0))
    if images.dtype.kind != "f":
        raise ExplainInputError(
            "image_dtype",
            f"the digit must be uint8 or float in 0…1, got {images.dtype}",
            dtype=str(images.dtype),
        )
    if not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0:
        raise ExplainInputError(
            "image_values",
            "the digit's pixels must be finite numbers in 0…1 (NaN, infinity "
            "or values outside 0…1 found)",
        )
    return torch.from_numpy(images.astype(np.float32))


def _logits(model: LeNet5, x: torch.Tensor) -> torch.Tensor:
    """Logits (N, 10) of [0, 1] pixels (N, 28, 28): padded to 32x32 as to_tensor does."""
    return model(F.pad(x.unsqueeze(1), (PAD, PAD, PAD, PAD)))


# ----------------------------------------------------------------------------- saliency

# The chain rule from the class score z_k down to a pixel: through C1's six kernels (the
# kernel-gradient lab's dL/dX, with L = z_k), then through the model's input scaling
# x -> x (ink - background) + background.
SALIENCY_LATEX = (
    r"\frac{\partial z_k}{\partial x_{i,j}} = (\text{ink} - \text{background})"
    r"\sum_{c=1}^{6} \sum_{a,b} \frac{\partial z_k}{\partial C1^{\text{pre}}_{c,\,i-a,\,j-b}}"
    r"\, W_{c,a,b}"
)


def saliency(model: LeNet5, image28: np.ndarray, target: int) -> np.ndarray:
    """d(logit of ``target``)/d(pixel), (28, 28): how much each pixel, on the 0…1 scale,
    would raise (positive) or lower (negative) the class score before the softmax."""
    target = _check_target(target)
    x = unit_pixels(image28).reshape(1, MNIST_SIZE, MNIST_SIZE).requires_grad_(True)
    with torch.enable_grad():
        logit = _logits(model, x)[0, target]
        (grad,) = torch.autograd.grad(logit, x)
    return grad[0].numpy()


def gradient_x_input(gradient: np.ndarray, image28: np.ndarray) -> np.ndarray:
    """Gradient × input: each pixel's gradient times its own value (0…1); the background
    (0) contributes nothing, whatever its gradient."""
    return np.asarray(gradient, dtype=np.float32) * unit_pixels(image28).reshape(28, 28).numpy()


# ----------------------------------------------------------------------------- occlusion


def occlusion_positions(patch: int, stride: int) -> int:
    """Top-left positions of a patch per row (and per column) of the 28x28 digit."""
    patch = _check_int(patch, "patch", 1, MNIST_SIZE)
    stride = _check_int(stride, "stride", 1, MNIST_SIZE)
    return (MNIST_SIZE - patch) // stride + 1


def occlusion_probabilities(
    model: LeNet5, image28: np.ndarray, patch: int = 4, stride: int = 1
) -> np.ndarray:
    """The ten probabilities, (n, n, 10), with a blank (0) ``patch``×``patch`` square whose
    top-left corner is at each (row, column) position, every ``stride`` pixels; n =
    (28 − patch) // stride + 1. One batched forward pass: the digit itself and every
    occluded copy whose patch covers some ink (a patch on blank pixels leaves the digit as
    it is, so it gets the digit's own probabilities without being computed again)."""
    n = occlusion_positions(patch, stride)
    x = unit_pixels(image28).reshape(MNIST_SIZE, MNIST_SIZE)
    starts = torch.arange(n) * stride
    pixels = torch.arange(MNIST_SIZE)
    inside = (pixels[None, :] >= starts[:, None]) & (pixels[None, :] < starts[:, None] + patch)
    covered = (inside[:, None, :, None] & inside[None, :, None, :]).reshape(n * n, 28, 28)
    on_ink = (covered & (x > 0)).flatten(1).any(1)  # (n * n,)
    batch = torch.cat([x[None], x.masked_fill(covered[on_ink], 0.0)])
    with torch.inference_mode():
        probs = F.softmax(_logits(model, batch), dim=1)
    out = probs[0].repeat(n * n, 1)
    out[on_ink] = probs[1:]
    return out.reshape(n, n, CLASSES).numpy()


def patch_corner(position: tuple[int, int], stride: int) -> tuple[int, int]:
    """The digit pixel (row, column) of a patch's top-left corner at a map position."""
    return position[0] * stride, position[1] * stride


def occluded(image28: np.ndarray, corner: tuple[int, int], patch: int) -> np.ndarray:
    """A copy of the digit with the blank patch at ``corner`` (its top-left pixel)."""
    patch = _check_int(patch, "patch", 1, MNIST_SIZE)
    unit_pixels(image28)  # checks the digit
    out = np.array(image28, copy=True)
    out[corner[0] : corner[0] + patch, corner[1] : corner[1] + patch] = 0
    return out


def occlusion(
    model: LeNet5, image28: np.ndarray, target: int, patch: int = 4, stride: int = 1
) -> np.ndarray:
    """The probability of ``target`` with the blank patch at each position, (n, n)."""
    target = _check_target(target)
    return occlusion_probabilities(model, image28, patch, stride)[..., target]


# ----------------------------------------------------------------------------- fooling


@dataclass(frozen=True)
class Fooled:
    image: np.ndarray  # (28, 28) float32 in 0…1, within epsilon of the original
    success: bool  # the network reads ``target`` in ``image``
    steps: int  # signed-gradient steps taken
    probabilities: np.ndarray  # (steps + 1, 10): before any step, then after each


def _attack(model, x0, targets, epsilon, steps, record=False):
    """Targeted iterative FGSM on a batch: x0 (N, 28, 28) in [0, 1], targets (N,), epsilon
    (N,). Each step moves every pixel by epsilon·STEP_FRACTION against the sign of the
    gradient of the cross-entropy with the target (whose gradient with respect to the
    logits is softmax − one-hot), then projects onto the epsilon box around x0 and onto
    0…1. A digit leaves the batch once the network reads its target. Returns (images,
    success, steps taken, and with ``record``, for a batch of one digit, its probabilities
    before and after each step)."""
    eps = epsilon.reshape(-1, 1, 1)
    low, high = (x0 - eps).clamp_min(0.0), (x0 + eps).clamp_max(1.0)
    x, done = x0.clone(), torch.zeros(len(x0), dtype=torch.bool)
    taken = torch.zeros(len(x0), dtype=torch.long)
    onehot = F.one_hot(targets, CLASSES).to(torch.float32)
    # the digits still moving: their indices, pixels, targets, bounds and step size
    moving = [torch.arange(len(x0)), x0.clone(), targets, onehot, low, high, eps * STEP_FRACTION]
    history = []
    for step in range(steps + 1):
        active, xa, aims, aim_hot, lo, hi, alpha = moving
        xa.requires_grad_(True)
        with torch.enable_grad():
            logits = _logits(model, xa)
        probs = F.softmax(logits.detach(), dim=1)
        if record:  # one digit: it stays in the batch until the loop ends
            history.append(probs[0])
        hit = probs.argmax(1) == aims
        some_hit = bool(hit.any())
        if some_hit or step == steps:  # these stop here: keep where and when they stopped
            stop = hit if step < steps else torch.ones_like(hit)
            done[active[stop]], x[active[stop]] = hit[stop], xa.detach()[stop]
            taken[active[stop]] = step
        if step == steps or bool(hit.all()):
            break
        upstream = probs - aim_hot
        if some_hit:
            upstream[hit] = 0.0
        (grad,) = torch.autograd.grad(logits, xa, grad_outputs=upstream)
        moving[1] = torch.minimum(torch.maximum(xa.detach() - alpha * grad.sign(), lo), hi)
        if some_hit:
            moving = [v[~hit] for v in moving]
    return x, done, taken, torch.stack(history) if record else None


def fool(model: LeNet5, image28: np.ndarray, target: int, epsilon: float, steps: int) -> Fooled:
    """Small signed-gradient steps on the digit toward ``target`` (targeted iterative FGSM),
    each kept within ``epsilon`` of the original (on the 0…1 scale) and within 0…1, until
    the network reads ``target`` or ``steps`` run out. Deterministic."""
    target = _check_target(target)
    eps = _check_epsilon(epsilon)
    steps = _check_int(steps, "steps", 1, MAX_STEPS)
    x0 = unit_pixels(image28).reshape(1, MNIST_SIZE, MNIST_SIZE)
    x, done, taken, probs = _attack(
        model, x0, torch.tensor([target]), torch.tensor([eps]), steps, record=True
    )
    return Fooled(
        image=x[0].numpy(),
        success=bool(done[0]),
        steps=int(taken[0]),
        probabilities=probs.numpy(),
    )


def fool_batch(
    model: LeNet5, images: np.ndarray, targets, epsilon, steps: int = SEARCH_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """``fool`` on many digits at once (N, 28, 28), each with its target and epsilon (one
    number or one per digit): (fooled images (N, 28, 28), success (N,) bool)."""
    x0 = unit_pixels(images).reshape(-1, MNIST_SIZE, MNIST_SIZE)
    try:
        targets = np.broadcast_to(np.ravel(targets), (len(x0),))
        eps = np.broadcast_to(np.ravel(epsilon), (len(x0),))
    except ValueError:
        raise ValueError(f"{len(x0)} digits need one target and one epsilon each") from None
    targets = torch.tensor([_check_target(t) for t in targets])
    eps = torch.tensor([_check_epsilon(e) for e in eps], dtype=torch.float32)
    steps = _check_int(steps, "steps", 1, MAX_STEPS)
    x, done, _, _ = _attack(model, x0, targets, eps, steps)
    return x.numpy(), done.numpy()


def smallest_epsilon(
    model: LeNet5,
    images: np.ndarray,
    targets,
    steps: int = SEARCH_STEPS,
    rounds: int = SEARCH_ROUNDS,
) -> np.ndarray:
    """For each digit (28, 28) or (N, 28, 28), the smallest epsilon (to within 2^-rounds)
    with which ``steps`` signed-gradient steps make the network read its target; NaN where
    even epsilon = 1 fails. Bisection on (0, 1], all digits batched in every round."""
    rounds = _check_int(rounds, "rounds", 1, 20)
    images = np.asarray(images)
    single = images.ndim == 2
    stack = images.reshape(-1, MNIST_SIZE, MNIST_SIZE)
    low, high = np.zeros(len(stack)), np.ones(len(stack))
    _, possible = fool_batch(model, stack, targets, high, steps)
    for _ in range(rounds):
        middle = (low + high) / 2
        _, fooled = fool_batch(model, stack, targets, middle, steps)
        high = np.where(fooled, middle, high)
        low = np.where(fooled, low, middle)
    out = np.where(possible, high, np.nan)
    return out[0] if single else out


def search_digits(labels: np.ndarray, candidates: np.ndarray, target: int) -> np.ndarray:
    """Indices (from ``candidates``) of the sample digits the smallest epsilon "over the
    sample" is measured on: the first SEARCH_DIGITS_PER_CLASS of every class but the
    target (a digit already read as the target needs no change)."""
    target = _check_target(target)
    chosen = [
        candidates[labels[candidates] == d][:SEARCH_DIGITS_PER_CLASS]
        for d in range(CLASSES)
        if d != target
    ]
    return np.concatenate(chosen)


# ----------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Extremes:
    """The largest and the smallest value of a map, and where they are (row, column)."""

    high: float
    high_at: tuple[int, int]
    low: float
    low_at: tuple[int, int]


def extremes(values: np.ndarray) -> Extremes:
    values = np.asarray(values)
    hi = np.unravel_index(int(np.argmax(values)), values.shape)
    lo = np.unravel_index(int(np.argmin(values)), values.shape)
    return Extremes(
        float(values[hi]), (int(hi[0]), int(hi[1])), float(values[lo]), (int(lo[0]), int(lo[1]))
    )


@dataclass(frozen=True)
class AnswerChanges:
    """Where covering the digit changes the network's answer (an occlusion map's reading)."""

    changed: np.ndarray  # (n, n) bool: the answer with the patch there is not ``answer``
    answers: np.ndarray  # (n, n) int: the answer with the patch there
    count: int  # places where the answer changes
    most_common: int | None  # the answer it changes to most often (None: it never changes)


def answer_changes(probabilities: np.ndarray, answer: int) -> AnswerChanges:
    """From ``occlusion_probabilities`` (n, n, 10) and the answer without a patch."""
    answer = _check_target(answer)
    answers = np.asarray(probabilities).argmax(-1)
    changed = answers != answer
    counts = np.bincount(answers[changed], minlength=CLASSES)
    most = int(counts.argmax()) if changed.any() else None
    return AnswerChanges(changed, answers, int(changed.sum()), most)


def runner_up(probabilities: np.ndarray) -> int:
    """The second most probable digit: the default digit to explain and to aim for."""
    return int(np.argsort(np.asarray(probabilities))[-2])


def change(image28: np.ndarray, fooled: np.ndarray) -> np.ndarray:
    """fooled − original, per pixel on the 0…1 scale."""
    return unit_pixels(fooled).numpy() - unit_pixels(image28).numpy()


def change_size(image28: np.ndarray, fooled: np.ndarray) -> tuple[float, float]:
    """The largest and the mean absolute change of any pixel, on the 0…1 scale."""
    size = np.abs(change(image28, fooled))
    return float(size.max()), float(size.mean())


def epsilon_summary(epsilons: np.ndarray) -> tuple[float | None, int]:
    """The median smallest epsilon of the digits that can be fooled (None if none can),
    and how many cannot be fooled even with epsilon = 1 (NaN)."""
    epsilons = np.asarray(epsilons, dtype=np.float64)
    finite = epsilons[np.isfinite(epsilons)]
    return (float(np.median(finite)) if finite.size else None), int(epsilons.size - finite.size)
