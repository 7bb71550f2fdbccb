"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied to
Document Recognition", Proc. IEEE 1998), in the three variants the app teaches.

The layer table, as the lesson gives it (input 32x32 grayscale):

    C1  6 kernels 5x5        -> 6 x 28 x 28
    S2  2x2 subsampling, /2  -> 6 x 14 x 14
    C3  16 kernels 5x5       -> 16 x 10 x 10
    S4  2x2 subsampling, /2  -> 16 x 5 x 5
    C5  120 kernels 5x5      -> 120 x 1 x 1
    F6  84 units
    output 10 units

Variants (`LeNetConfig.variant`):
- ``classic``: the textbook network the lesson describes: average pooling, tanh after
  C1/C3/C5, sigmoid after F6, a linear output read through softmax. 61,706 parameters.
- ``modern``: the same shapes with ReLU and max pooling everywhere.
- ``lecun1998``: the network as published: C3 reads a subset of S2's maps (Table I),
  trainable subsampling (window sum x coefficient + bias), the scaled tanh
  1.7159 tanh(2a/3), and an output of 10 Euclidean RBF units with fixed +-1 prototypes.
  60,000 trainable parameters.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from lenet.prototypes import paper_prototypes

VARIANTS = ("classic", "modern", "lecun1998")
PROTOTYPES = ("seeded", "paper")  # the RBF output's codes: seeded +-1, or the paper's bitmaps
LAYER_NAMES = ("c1", "s2", "c3", "s4", "c5", "f6", "output")
ACTIVATION_KEYS = ("c1", "s2", "c3", "s4", "c5", "f6", "logits")
# The weighted sums before each squashing function (S2/S4: trainable subsampling only).
PRE_ACTIVATION_KEYS = ("c1_pre", "s2_pre", "c3_pre", "s4_pre", "c5_pre", "f6_pre")

# MNIST's pixel statistics (on [0, 1]); classic and modern standardise with them.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

# Table I of the paper: which S2 maps each of C3's 16 maps reads.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


@dataclass(frozen=True)
class LeNetConfig:
    """Everything needed to rebuild a LeNet-5; stored in every checkpoint."""

    variant: str = "classic"  # one of VARIANTS
    activation: str = (
        "tanh"  # after C1, C3, C5 (and S2/S4 when trainable): tanh | relu | scaled_tanh | sigmoid
    )
    f6_activation: str = "sigmoid"  # after F6: sigmoid | relu | scaled_tanh
    pooling: str = "avg"  # S2/S4: avg | max | trainable (sum x coefficient + bias)
    c3_table: str = "full"  # full: every C3 map reads all 6 S2 maps; lecun: Table I
    output: str = "linear"  # linear (logits, softmax) | rbf (negative RBF distances as logits)
    rbf_temperature: float = 8.0  # rbf only: logits are -distance / temperature
    prototypes: str = "seeded"  # rbf only: seeded (random +-1 codes) | paper (7x12 bitmaps)
    input_range: tuple[float, float] = (
        -MNIST_MEAN / MNIST_STD,
        (1.0 - MNIST_MEAN) / MNIST_STD,
    )  # (background, ink) values the 0..255 pixels are mapped onto

    @classmethod
    def for_variant(cls, variant: str) -> LeNetConfig:
        if variant == "classic":
            return cls()
        if variant == "modern":
            return cls(variant="modern", activation="relu", f6_activation="relu", pooling="max")
        if variant == "lecun1998":
            return cls(
                variant="lecun1998",
                activation="scaled_tanh",
                f6_activation="scaled_tanh",
                pooling="trainable",
                c3_table="lecun",
                output="rbf",
                prototypes="paper",
                input_range=(-0.1, 1.175),
            )
        raise ValueError(
            f"unknown LeNet-5 variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LeNetConfig:
        """Rebuild a config; raises ValueError for unknown keys or values."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        if "input_range" in d:
            d = {**d, "input_range": tuple(float(v) for v in d["input_range"])}
        config = cls(**d)
        config.validate()
        return config

    def validate(self) -> None:
        choices = {
            "variant": VARIANTS,
            "activation": ("tanh", "relu", "scaled_tanh", "sigmoid"),
            "f6_activation": ("sigmoid", "relu", "scaled_tanh", "tanh"),
            "pooling": ("avg", "max", "trainable"),
            "c3_table": ("full", "lecun"),
            "output": ("linear", "rbf"),
            "prototypes": PROTOTYPES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"config {name}={getattr(self, name)!r} is not one of {allowed}")
        if not (math.isfinite(self.rbf_temperature) and self.rbf_temperature > 0):
            raise ValueError(f"config rbf_temperature={self.rbf_temperature!r} must be positive")
        if len(self.input_range) != 2 or not all(map(math.isfinite, self.input_range)):
            raise ValueError(f"config input_range={self.input_range!r} must be two finite numbers")


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    """The paper's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3."""
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "scaled_tanh": scaled_tanh,
}


class Subsampling(nn.Module):
    """The paper's trainable subsampling: each 2x2 window is summed, multiplied by one
    trainable coefficient per map, and a trainable bias per map is added."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), 0.25))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # bias + window sum x coefficient, as one fused op after the pooling (the sum of a
        # window is avg_pool2d with no divisor).
        window_sum = F.avg_pool2d(x, 2, divisor_override=1)
        return torch.addcmul(self.bias.view(1, -1, 1, 1), window_sum, self.weight.view(1, -1, 1, 1))


class SparseConv2d(nn.Conv2d):
    """A convolution whose output map o only reads the input maps in ``table[o]``.
    Weights outside the table are held at zero by a fixed mask (they get no gradient
    and are not counted as parameters)."""

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int):
        super().__init__(in_channels, len(table), kernel_size)
        mask = torch.zeros(len(table), in_channels, 1, 1)
        for out_map, in_maps in enumerate(table):
            mask[out_map, list(in_maps)] = 1.0
        self.register_buffer("mask", mask)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class RBFOutput(nn.Module):
    """The paper's output layer: y_i = sum_j (x_j - w_ij)^2, with fixed +-1 prototypes:
    codes drawn by a seeded generator, or (``paper=True``) the paper's 7x12 bitmaps of the
    digits (lenet.prototypes).
    ``forward`` returns -y / T so that the most probable class has the largest score; a
    softmax over it with cross-entropy is the paper's MAP criterion without its
    rubbish-class term, at temperature T. With T = 1 the distances (tens apart) make the
    softmax nearly a hard max and training crawls; T = 8 trains about twice as fast.
    The temperature changes no prediction: the nearest prototype wins either way."""

    def __init__(
        self,
        in_features: int = 84,
        classes: int = 10,
        seed: int = 1998,
        temperature: float = 8.0,
        paper: bool = False,
    ):
        super().__init__()
        self.temperature = temperature
        if paper:
            codes = torch.from_numpy(paper_prototypes())
            if codes.shape != (classes, in_features):
                raise ValueError(f"the paper's bitmaps are {tuple(codes.shape)} codes")
        else:
            generator = torch.Generator().manual_seed(seed)
            codes = torch.randint(0, 2, (classes, in_features), generator=generator) * 2.0 - 1.0
        self.register_buffer("prototypes", codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # |x - w_i|^2 = |w_i|^2 - 2 x.w_i + |x|^2: one matrix product for all ten units.
        p = self.prototypes
        squared = torch.addmm(p.pow(2).sum(1), x, p.T, alpha=-2.0)
        squared = squared + x.pow(2).sum(1, keepdim=True)
        return squared.div(-self.temperature)


class LeNet5(nn.Module):
    def __init__(self, config: LeNetConfig | None = None):
        super().__init__()
        self.config = config = config or LeNetConfig()
        config.validate()
        self.act = ACTIVATIONS[config.activation]
        self.f6_act = ACTIVATIONS[config.f6_activation]

        self.c1 = nn.Conv2d(1, 6, kernel_size=5)
        self.s2 = self._subsampling(6)
        if config.c3_table == "lecun":
            self.c3 = SparseConv2d(6, C3_TABLE, kernel_size=5)
        else:
            self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.s4 = self._subsampling(16)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        if config.output == "rbf":
            self.output = RBFOutput(
                84, 10, temperature=config.rbf_temperature, paper=config.prototypes == "paper"
            )
        else:
            self.output = nn.Linear(84, 10)

    def _subsampling(self, channels: int) -> nn.Module:
        if self.config.pooling == "trainable":
            return Subsampling(channels)
        if self.config.pooling == "max":
            return nn.MaxPool2d(2)
        return nn.AvgPool2d(2)

    def _subsample(self, name: str, x: torch.Tensor, out: dict) -> torch.Tensor:
        # Trainable subsampling is followed by the activation, as in the paper (its
        # weighted sum is kept as "<name>_pre"); average and max pooling are not.
        layer = getattr(self, name)
        if not isinstance(layer, Subsampling):
            return layer(x)
        out[f"{name}_pre"] = a = layer(x)
        return self.act(a)

    def activations(
        self, x: torch.Tensor, c1_weight: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Every layer's output for a batch (N, 1, 32, 32) of pixels in [0, 1] (0 =
        background, 1 = full ink, as ``lenet.preprocess.to_tensor`` makes them), from one
        forward pass. The network maps them onto its own input range first. Each layer
        with a squashing function also gives its weighted sums before it, as
        "<layer>_pre" (PRE_ACTIVATION_KEYS; S2 and S4 only when trainable).

        ``c1_weight`` replaces C1's kernels for this call only (the kernel-gradient page
        differentiates with respect to a copy, leaving the shared model untouched)."""
        out = {}
        x = self.scale_input(x)  # (N, 1, 32, 32), in the variant's (background, ink) range
        a = self.c1(x) if c1_weight is None else F.conv2d(x, c1_weight, self.c1.bias)
        out["c1_pre"] = a  # (N, 6, 28, 28), weighted sums
        out["c1"] = x = self.act(a)  # (N, 6, 28, 28)
        out["s2"] = x = self._subsample("s2", x, out)  # (N, 6, 14, 14)
        out["c3_pre"] = a = self.c3(x)  # (N, 16, 10, 10)
        out["c3"] = x = self.act(a)  # (N, 16, 10, 10)
        out["s4"] = x = self._subsample("s4", x, out)  # (N, 16, 5, 5)
        out["c5_pre"] = a = self.c5(x).flatten(1)  # (N, 120)
        out["c5"] = x = self.act(a)  # (N, 120)
        out["f6_pre"] = a = self.f6(x)  # (N, 84)
        out["f6"] = x = self.f6_act(a)  # (N, 84)
        out["logits"] = self.output(x)  # (N, 10)
        return out

    def scale_input(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels onto this network's (background, ink) input range: MNIST's
        standardisation for classic and modern, the paper's -0.1 ... 1.175 for lecun1998.
        It lives in the model (and its saved config) so no caller can get it wrong."""
        low, high = self.config.input_range
        return x * (high - low) + low

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x)["logits"]


def build_model(variant: str = "classic") -> LeNet5:
    return LeNet5(LeNetConfig.for_variant(variant))
