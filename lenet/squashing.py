"""Before and after the squashing function (issue 19.4): each layer of LeNet-5 computes
weighted sums and then squashes them (tanh, the paper's scaled tanh, sigmoid or ReLU).
What the draw page needs to show both: the activations with every layer replaced by its
sums, the value ranges before and after, and the trainable subsampling's coefficient and
bias per map (lecun1998). The sums themselves come from ``LeNet5.activations``
("<layer>_pre")."""

from __future__ import annotations

import numpy as np

from lenet.model import LeNet5

SQUASHED = ("c1", "s2", "c3", "s4", "c5", "f6")  # the layers that can have a squashing function


def before_squashing(activations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The activations with every layer that has a squashing function replaced by its
    weighted sums (the layers without one, plain pooling, stay as they are)."""
    return {
        name: activations.get(f"{name}_pre", value) if name in SQUASHED else value
        for name, value in activations.items()
    }


def squashing_function(model: LeNet5, layer: str) -> str | None:
    """The name of the function that squashes ``layer``'s sums (tanh, relu, sigmoid,
    scaled_tanh); None for a layer without one (average or max pooling)."""
    if layer not in SQUASHED:
        raise ValueError(f"unknown layer {layer!r}; choose one of {', '.join(SQUASHED)}")
    if layer == "f6":
        return model.config.f6_activation
    if layer in ("s2", "s4") and model.config.pooling != "trainable":
        return None
    return model.config.activation


def squash_facts(model: LeNet5, layer: str, activations: dict[str, np.ndarray]) -> dict | None:
    """The function and the value ranges before and after it, for a layer's sentence;
    None for a layer without a squashing function."""
    function = squashing_function(model, layer)
    if function is None or f"{layer}_pre" not in activations:
        return None
    before = np.asarray(activations[f"{layer}_pre"], dtype=np.float32)
    after = np.asarray(activations[layer], dtype=np.float32)
    return {
        "function": function,
        "low_before": float(before.min()),
        "high_before": float(before.max()),
        "low": float(after.min()),
        "high": float(after.max()),
    }


def subsampling_coefficients(model: LeNet5, layer: str) -> list[dict] | None:
    """The trainable subsampling's coefficient and bias of each map, [{map, coefficient,
    bias}]; None when ``layer`` is plain pooling."""
    module = getattr(model, layer, None)
    if layer not in ("s2", "s4") or not hasattr(module, "weight"):
        return None
    weight = module.weight.detach().numpy()
    bias = module.bias.detach().numpy()
    return [
        {"map": i, "coefficient": round(float(w), 4), "bias": round(float(b), 4)}
        for i, (w, b) in enumerate(zip(weight, bias, strict=True))
    ]
