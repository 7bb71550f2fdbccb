"""Parameter counts of a LeNet-5, computed from the module itself (never typed in).

The lesson reconciles three totals for the textbook network:
- ``with_bias`` 61,706: every weight and every bias;
- ``weights_only`` 61,470: no biases;
- ``seed_mixed`` 61,684: the lesson's own total, with C1 and C3 counted without their
  6 + 16 = 22 biases and every other layer with its biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lenet.model import LAYER_NAMES, LeNet5, RBFOutput, SparseConv2d, Subsampling


@dataclass(frozen=True)
class LayerCount:
    layer: str  # c1, s2, ..., output
    kind: str  # conv, sparse conv, pooling, subsampling, full, rbf
    weights: int  # trainable weights (masked-out weights of a sparse conv excluded)
    biases: int  # trainable biases
    output_shape: tuple[int, ...]  # one image's output, e.g. (6, 28, 28)
    connections: int  # multiply-adds one image makes through this layer (biases count one)
    weight_formula: str  # how ``weights`` is computed, e.g. "5·5·1·6"

    @property
    def total(self) -> int:
        return self.weights + self.biases


def output_shapes(model: LeNet5) -> dict[str, tuple[int, ...]]:
    """Each layer's output shape for one image, measured by a forward pass."""
    with torch.inference_mode():
        acts = model.activations(torch.zeros(1, 1, 32, 32))
    keys = dict(zip(LAYER_NAMES, ("c1", "s2", "c3", "s4", "c5", "f6", "logits"), strict=True))
    return {layer: tuple(acts[key].shape[1:]) for layer, key in keys.items()}


def _numel(t: torch.Tensor | None) -> int:
    return 0 if t is None else int(t.numel())


def layer_counts(model: LeNet5) -> list[LayerCount]:
    shapes = output_shapes(model)
    rows = []
    for name in LAYER_NAMES:
        module = getattr(model, name)
        shape = shapes[name]
        spatial = int(torch.tensor(shape[1:]).prod()) if len(shape) > 1 else 1
        if isinstance(module, SparseConv2d):
            kh, kw = module.kernel_size
            weights = int(module.mask.sum()) * kh * kw
            biases = _numel(module.bias)
            kind, formula = "sparse conv", f"{int(module.mask.sum())}·{kh}·{kw}"
            connections = spatial * (weights + biases)
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            weights, biases = _numel(module.weight), _numel(module.bias)
            kind = "conv"
            formula = f"{kh}·{kw}·{module.in_channels}·{module.out_channels}"
            connections = spatial * (weights + biases)
        elif isinstance(module, Subsampling):
            weights, biases = _numel(module.weight), _numel(module.bias)
            kind, formula = "subsampling", f"{weights}"
            connections = shape[0] * spatial * (4 + 1)
        elif isinstance(module, nn.Linear):
            weights, biases = _numel(module.weight), _numel(module.bias)
            kind, formula = "full", f"{module.in_features}·{module.out_features}"
            connections = weights + biases
        elif isinstance(module, RBFOutput):
            weights, biases = 0, 0  # the prototypes are fixed, not trained
            kind, formula = "rbf", "0"
            connections = _numel(module.prototypes)
        else:  # parameter-free pooling
            weights, biases = 0, 0
            kind, formula = "pooling", "0"
            connections = shape[0] * spatial * 4
        rows.append(LayerCount(name, kind, weights, biases, shape, connections, formula))
    return rows


def totals(model: LeNet5) -> dict[str, int]:
    """The three totals the lesson reconciles: with_bias, weights_only, seed_mixed."""
    rows = {row.layer: row for row in layer_counts(model)}
    with_bias = sum(row.total for row in rows.values())
    weights_only = sum(row.weights for row in rows.values())
    seed_mixed = with_bias - rows["c1"].biases - rows["c3"].biases
    return {"with_bias": with_bias, "weights_only": weights_only, "seed_mixed": seed_mixed}


def connections(model: LeNet5) -> int:
    return sum(row.connections for row in layer_counts(model))


def trainable_parameters(model: LeNet5) -> int:
    """Counted from the optimiser's point of view (masked sparse weights excluded)."""
    return sum(row.total for row in layer_counts(model))
