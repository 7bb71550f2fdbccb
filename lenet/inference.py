"""One digit through the network: probabilities and every layer's activations, as numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lenet.model import LeNet5
from lenet.preprocess import to_tensor


@dataclass(frozen=True)
class Prediction:
    digit: int
    confidence: float
    probabilities: np.ndarray  # (10,)
    activations: dict[str, np.ndarray]  # c1 (6,28,28), s2, c3 (16,10,10), s4, c5 (120,), f6 (84,)


@torch.inference_mode()
def predict(model: LeNet5, image28: np.ndarray) -> Prediction:
    """A 28x28 uint8 MNIST-style image -> the model's prediction, from one forward pass."""
    acts = model.activations(to_tensor(image28))
    probs = F.softmax(acts["logits"][0], dim=0).numpy()
    digit = int(probs.argmax())
    return Prediction(
        digit=digit,
        confidence=float(probs[digit]),
        probabilities=probs,
        activations={k: v[0].numpy() for k, v in acts.items() if k != "logits"},
    )


def c1_kernels(model: LeNet5) -> np.ndarray:
    """C1's six 5x5 kernels, (6, 5, 5)."""
    return model.c1.weight.detach()[:, 0].numpy().copy()


def c1_kernel_gradients(model: LeNet5, image28: np.ndarray, target: int) -> np.ndarray:
    """dL/dW for C1's six kernels, L the cross-entropy of the digit against ``target``.

    The shared (cached) model is not touched: the gradient is taken with respect to a
    copy of C1's weight through a functional forward pass."""
    if not 0 <= int(target) <= 9:
        raise ValueError(f"target class must be 0..9, got {target}")
    x = to_tensor(image28)
    weight = model.c1.weight.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model.activations(x, c1_weight=weight)["logits"]
        loss = F.cross_entropy(logits, torch.tensor([int(target)]))
        (grad,) = torch.autograd.grad(loss, weight)
    return grad[:, 0].numpy()


def rbf_distances(model: LeNet5, f6: np.ndarray) -> np.ndarray | None:
    """The RBF output's ten squared distances sum_j (f6_j - w_ij)^2 between F6's 84 values
    and each digit's prototype (the nearest one is the prediction); None for a network
    whose output is not RBF."""
    if model.config.output != "rbf":
        return None
    prototypes = model.output.prototypes.detach().numpy()
    f6 = np.asarray(f6, dtype=np.float32).reshape(1, -1)
    return ((f6 - prototypes) ** 2).sum(axis=1)
