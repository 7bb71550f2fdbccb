"""Training distortions beyond the affine ones (lenet.train.augment), chosen with
``python -m lenet.train --distort squeeze,stroke,elastic`` (any of DISTORTIONS): generic
variations of handwriting that MNIST's training digits show little of.
A squeeze makes a digit narrower or wider than it is tall (the paper's "squeezing").
Pen strokes on the canvas come out of the preprocessing anywhere from hair-thin to several
times as thick as MNIST's (a thick pen on a small digit), and thick strokes close the
holes of 6, 8, 9 and 0; a smooth elastic warp (Simard et al. 2003) adds the wobble of a
hand. Both work on a whole batch (N, 1, H, W) in [0, 1] at once, on its device."""

from __future__ import annotations

import torch
import torch.nn.functional as F

DISTORTIONS = ("squeeze", "stroke", "elastic")


def squeeze(x: torch.Tensor, generator: torch.Generator, amount: float = 0.2) -> torch.Tensor:
    """Each digit stretched horizontally by a random factor in [1 - amount, 1 + amount],
    about the image's centre (its height unchanged)."""
    n = x.shape[0]
    factor = 1.0 + (torch.rand(n, generator=generator) * 2 - 1) * amount
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = 1.0 / factor, 1.0
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def max_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """The maximum over each size x size window (odd size), outside the image ignored:
    ``F.max_pool2d(x, size, stride=1, padding=size // 2)``, as a maximum of shifted
    slices, one axis after the other (torch's stride-1 max pooling on the CPU is about 20
    times slower)."""
    r = size // 2
    h, w = x.shape[-2:]
    padded = F.pad(x, (r, r, r, r), value=float("-inf"))
    rows = padded[..., :h, :]
    for i in range(1, size):
        rows = torch.maximum(rows, padded[..., i : i + h, :])
    out = rows[..., :w]
    for j in range(1, size):
        out = torch.maximum(out, rows[..., j : j + w])
    return out


def stroke_width(x: torch.Tensor, generator: torch.Generator, thicker: float = 0.5) -> torch.Tensor:
    """Each digit's strokes made thicker with probability ``thicker`` (grey-level
    dilation: a 3x3 then a 5x5 max, up to two pixels more on each side, by a random
    amount), else thinner (3x3 erosion, by at most half, so thin MNIST strokes never
    vanish)."""
    n = x.shape[0]
    amount = torch.rand(n, 1, 1, 1, generator=generator).to(x.device)
    grow = (torch.rand(n, 1, 1, 1, generator=generator) < thicker).to(x.device)
    grown = 2 * amount  # 0..1: towards the 3x3 dilation, 1..2: on towards the 5x5 one
    d3, d5 = max_filter(x, 3), max_filter(x, 5)
    dilated = torch.where(grown < 1, x + grown * (d3 - x), d3 + (grown - 1) * (d5 - d3))
    eroded = -max_filter(-x, 3)
    return torch.where(grow, dilated, x - 0.5 * amount * (x - eroded))


def elastic(
    x: torch.Tensor, generator: torch.Generator, alpha: float = 1.5, sigma: float = 4.0
) -> torch.Tensor:
    """A smooth random warp: a random displacement field (up to about ``alpha`` pixels),
    smoothed by a Gaussian of ``sigma`` pixels, moves every pixel."""
    n, _, h, w = x.shape
    field = torch.rand(n, 2, h, w, generator=generator) * 2 - 1
    radius = int(2 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    field = F.conv2d(field.reshape(2 * n, 1, h, w), kernel.view(1, 1, 1, -1), padding=(0, radius))
    field = F.conv2d(field, kernel.view(1, 1, -1, 1), padding=(radius, 0)).reshape(n, 2, h, w)
    field = field / field.abs().amax(dim=(2, 3), keepdim=True).clamp_min(1e-6) * alpha
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).expand(n, h, w, 2)
    grid = grid + field.permute(0, 2, 3, 1) * torch.tensor([2.0 / w, 2.0 / h])
    return F.grid_sample(x, grid.to(x.device), mode="bilinear", padding_mode="zeros",
                         align_corners=True)  # fmt: skip


def distort(
    x: torch.Tensor, generator: torch.Generator, kinds: str = "squeeze,stroke,elastic"
) -> torch.Tensor:
    """The distortions named in ``kinds`` (comma-separated, of DISTORTIONS), always in
    DISTORTIONS' order, for a batch already through the affine augmentation."""
    wanted = set(filter(None, kinds.split(",")))
    if unknown := wanted - set(DISTORTIONS):
        raise ValueError(f"unknown distortions {sorted(unknown)}; choose from {DISTORTIONS}")
    steps = {"squeeze": squeeze, "stroke": stroke_width, "elastic": elastic}
    for kind in DISTORTIONS:
        if kind in wanted:
            x = steps[kind](x, generator)
    return x.clamp(0.0, 1.0)
