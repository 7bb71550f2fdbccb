"""Train a LeNet-5 on MNIST and write a safetensors checkpoint with its model card.

    python -m lenet.train --variant classic --out models/lenet5-classic.safetensors
    python -m lenet.train --variant quick --pooling avg --activation sigmoid --out runs/a.safetensors

``--variant`` picks a preset (``PRESETS``: the three shipped networks' recipes and
``quick``); the switches (activation, pooling, C3 table, output, optimiser, learning
rate, batch size, epochs, training-set size, augmentation, seed) change it. The app's
training page runs this same loop (``setup`` + ``train_epochs``) through ``lenet.jobs``.

The whole training set lives in one uint8 tensor, padded batch by batch; each batch is augmented at once (a random
rotation, scale, shear and shift through one affine grid), with no per-sample Python
loop. After every epoch the test set is evaluated and the checkpoint (and a resume file
beside it) is written atomically, so Ctrl-C leaves the last good checkpoint intact and
``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lenet.cards import LOSS_SOFTMAX, OPTIMIZER, OPTIMIZER_SGD, loss_rbf, prototypes_card
from lenet.checkpoint import atomic_save, default_path, save_checkpoint
from lenet.distort import DISTORTIONS, distort
from lenet.evaluate import predict_padded, summarize
from lenet.model import PROTOTYPES, VARIANTS, LeNet5, LeNetConfig
from lenet.preprocess import pad_unit

# The switches a student (or the command line) can set, in the lesson's words.
ACTIVATIONS = ("sigmoid", "tanh", "scaled_tanh", "relu")
POOLINGS = ("avg", "max", "trainable")
C3_TABLES = ("full", "lecun")
OUTPUTS = ("softmax", "rbf")
OPTIMIZERS = ("adamw", "sgd_momentum")
# Bounds on what one run may ask for: (low, high), both inclusive.
LIMITS = {
    "lr": (1e-5, 1.0),
    "batch_size": (8, 1024),
    "epochs": (1, 100),
    "train_size": (1000, 60000),
    "weight_decay": (0.0, 0.1),
    "label_smoothing": (0.0, 0.5),
}


class SettingsError(ValueError):
    """A training setting out of bounds; ``key`` and ``fields`` name a catalogue message
    (``train.error.<key>``) so the page can say it in the reader's language."""

    def __init__(self, key: str, message: str, **fields: object):
        super().__init__(message)
        self.key, self.fields = key, fields


@dataclass(frozen=True)
class TrainSettings:
    """One training run: the network's switches and the recipe. The defaults are the
    lesson's classic network as shipped (models/lenet5-classic.safetensors)."""

    activation: str = "tanh"  # after C1, C3, C5; F6 takes sigmoid after tanh, as the lesson
    pooling: str = "avg"  # S2 and S4: avg | max | trainable (the paper's subsampling)
    c3_table: str = "full"  # full | lecun (Table I of the paper)
    output: str = "softmax"  # softmax | rbf (the paper's Euclidean RBF units)
    prototypes: str = "paper"  # rbf only: paper (7x12 bitmaps) | seeded (random +-1 codes)
    optimizer: str = "adamw"  # adamw | sgd_momentum, both with the one-cycle schedule
    lr: float = 3e-3  # peak learning rate
    batch_size: int = 128
    epochs: int = 30
    train_size: int | None = None  # None: every training digit; else a seeded subset
    augment: bool = True  # random affine distortions of every batch
    distort: str = ""  # more distortions after the affine ones: lenet.distort.DISTORTIONS, "a,b"
    seed: int = 0
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0

    def validate(self) -> None:
        """Raise SettingsError naming the first setting that cannot be trained with."""
        choices = {
            "activation": ACTIVATIONS,
            "pooling": POOLINGS,
            "c3_table": C3_TABLES,
            "output": OUTPUTS,
            "prototypes": PROTOTYPES,
            "optimizer": OPTIMIZERS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    "choice",
                    f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}",
                    name=name,
                    value=getattr(self, name),
                )
        for part in filter(None, self.distort.split(",")):
            if part not in DISTORTIONS:
                raise SettingsError(
                    "choice",
                    f"distort={part!r} is not one of {', '.join(DISTORTIONS)}",
                    name="distort",
                    value=part,
                )
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is None and name == "train_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError("range", f"{name} must be a number", name=name, value=value)
            if not (math.isfinite(value) and low <= value <= high):
                raise SettingsError(
                    "range",
                    f"{name}={value!r} must be between {low:g} and {high:g}",
                    name=name,
                    value=value,
                    low=low,
                    high=high,
                )

    def model_config(self) -> LeNetConfig:
        """The network these switches describe. Its ``variant`` is the nearest of the three
        the app ships (exactly that variant's config when every switch matches it)."""
        changes = {
            "activation": self.activation,
            "f6_activation": "sigmoid" if self.activation == "tanh" else self.activation,
            "pooling": self.pooling,
            "c3_table": self.c3_table,
            "output": "rbf" if self.output == "rbf" else "linear",
        }
        if self.output == "rbf":
            changes["prototypes"] = self.prototypes
        if self.activation == "scaled_tanh":  # the paper's input range suits its tanh
            changes["input_range"] = LeNetConfig.for_variant("lecun1998").input_range
        variant = nearest_variant(changes)
        return replace(LeNetConfig.for_variant(variant), **changes)


def nearest_variant(changes: dict) -> str:
    """The shipped variant whose config agrees with the most of ``changes`` (ties: the
    first of VARIANTS)."""

    def agreement(variant: str) -> int:
        config = LeNetConfig.for_variant(variant)
        return sum(getattr(config, k) == v for k, v in changes.items())

    return max(VARIANTS, key=agreement)


# The presets the shipped checkpoints were trained from (their cards' commands, and
# `make train`, add the epochs and distortions chosen on a validation split: README, "The
# shipped checkpoints"), and `quick`, the app's default: >= 95% test accuracy in about 15 s
# on a 2-core machine (bench/).
PRESETS: dict[str, TrainSettings] = {
    "classic": TrainSettings(),
    "modern": TrainSettings(activation="relu", pooling="max", label_smoothing=0.1),
    "lecun1998": TrainSettings(
        activation="scaled_tanh", pooling="trainable", c3_table="lecun", output="rbf", epochs=24
    ),
    "quick": TrainSettings(
        activation="relu", pooling="max", lr=5e-3, epochs=1, train_size=30000, augment=False
    ),
}
RECIPES = {variant: PRESETS[variant] for variant in VARIANTS}


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine distortions of a whole batch (N, 1, 32, 32) in [0, 1] at once:
    rotation +-12 degrees, scale 0.9-1.1, shear +-0.15, shift +-2 px."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-12.0, 12.0) * (math.pi / 180.0)
    scale = uniform(0.9, 1.1)
    shear = uniform(-0.15, 0.15)
    shift = uniform(-2.0, 2.0), uniform(-2.0, 2.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + shear * cos
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + shear * sin
    theta[:, 0, 2] = shift[0] * (2.0 / x.shape[-1])
    theta[:, 1, 2] = shift[1] * (2.0 / x.shape[-2])
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def one_cycle_lr(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 15% of steps, then cosine decay to ~0."""
    warm = max(1, int(0.15 * total))
    if step < warm:
        return peak * (0.1 + 0.9 * step / warm)
    progress = (step - warm) / max(1, total - warm)
    return peak * (0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))) + peak * 1e-3


class TrainingStopped(Exception):  # noqa: N818 - a signal, not an error
    """Raised by an ``on_batch`` hook to end a run early, keeping the weights so far."""

    def __init__(self, reason: str = "stopped"):
        super().__init__(reason)
        self.reason = reason


class LossNotFinite(ValueError):  # noqa: N818 - reads as what happened
    """The training loss became NaN or infinite (the learning rate is usually too high)."""

    def __init__(self, step: int):
        super().__init__(
            f"the training loss became NaN or infinite at step {step}: lower the learning rate"
        )
        self.step = step


# on_batch(batches done this epoch, images seen this epoch, mean loss so far)
BatchHook = Callable[[int, int, float], None]


def train_one_epoch(
    model: LeNet5,
    optimizer: Optimizer,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    batch_size: int,
    step: int,
    total_steps: int,
    peak_lr: float,
    augment_batches: bool,
    distortions: str = "",
    label_smoothing: float = 0.0,
    generator: torch.Generator,
    on_batch: BatchHook | None = None,
) -> tuple[float, int]:
    """One pass over the training set, uint8 images (N, 28, 28) padded batch by batch;
    returns (mean loss, global step). Raises LossNotFinite before a non-finite loss can
    reach the weights; ``on_batch`` may raise TrainingStopped."""
    model.train()
    order = torch.randperm(len(train_x), generator=generator)
    loss_sum, seen = 0.0, 0
    for b, start in enumerate(range(0, len(order), batch_size)):
        idx = order[start : start + batch_size]
        x = pad_unit(train_x[idx])
        if augment_batches:
            x = augment(x, generator)
        if distortions:
            x = distort(x, generator, distortions)
        for group in optimizer.param_groups:
            group["lr"] = one_cycle_lr(step, total_steps, peak_lr)
        loss = F.cross_entropy(model(x), train_y[idx], label_smoothing=label_smoothing)
        if not math.isfinite(value := loss.item()):
            raise LossNotFinite(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        loss_sum += value * len(idx)
        seen += len(idx)
        if on_batch is not None:
            on_batch(b + 1, seen, loss_sum / seen)
    return loss_sum / max(seen, 1), step


@dataclass
class Run:
    """Everything the epoch loop works on; ``setup`` builds it, for the command line and
    for the app's jobs alike. ``epoch``, ``step``, ``history`` and ``seconds`` advance."""

    settings: TrainSettings
    model: LeNet5
    optimizer: Optimizer
    generator: torch.Generator
    train_x: torch.Tensor  # uint8 (N, 28, 28) on the device: padded batch by batch
    train_y: torch.Tensor
    test_images: np.ndarray  # uint8 (M, 28, 28)
    test_labels: np.ndarray
    sha256: dict | str
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_x) / self.settings.batch_size)

    @property
    def total_steps(self) -> int:
        return self.settings.epochs * self.steps_per_epoch

    @property
    def device(self) -> torch.device:
        return self.train_x.device


# torch's global generator initialises the weights; jobs in threads take turns with it.
_INIT_LOCK = threading.Lock()


class Optimizer:
    """torch.optim's AdamW and SGD (Nesterov momentum) as they run on the CPU (their
    single-tensor updates, bit for bit: tests/test_train.py compares them), without
    torch.optim: building any torch.optim optimiser imports torch._dynamo, about 70 MB
    of the app server's 600 MB (the training page trains inside the server).
    ``param_groups``, ``state_dict`` and ``load_state_dict`` as torch.optim's."""

    def __init__(self, params, kind: str, lr: float, weight_decay: float):
        self.kind, self.params = kind, list(params)
        group = {"lr": lr, "weight_decay": weight_decay}
        if kind == "adamw":
            group |= {"betas": (0.9, 0.999), "eps": 1e-8}
        else:
            group |= {"momentum": 0.9, "nesterov": True}
        self.param_groups = [group]
        self.state: dict[int, dict] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        update = self._adamw if self.kind == "adamw" else self._sgd
        for i, p in enumerate(self.params):
            if p.grad is not None:
                update(p, p.grad, self.state.setdefault(i, {}), group)

    @staticmethod
    def _adamw(p, grad, state: dict, group: dict) -> None:
        (beta1, beta2), lr, eps = group["betas"], group["lr"], group["eps"]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        if group["weight_decay"] != 0:
            p.mul_(1 - lr * group["weight_decay"])  # decoupled weight decay
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"].item()
        step_size = lr / (1 - beta1**step)
        denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
        p.addcdiv_(state["exp_avg"], denom, value=-step_size)

    @staticmethod
    def _sgd(p, grad, state: dict, group: dict) -> None:
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        buf = state.get("momentum_buffer")
        if buf is None:
            state["momentum_buffer"] = buf = grad.detach().clone()
        else:
            buf.mul_(group["momentum"]).add_(grad)
        p.add_(grad.add(buf, alpha=group["momentum"]), alpha=-group["lr"])

    def state_dict(self) -> dict:
        groups = [{**g, "params": list(range(len(self.params)))} for g in self.param_groups]
        return {"state": self.state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        group = state_dict["param_groups"][0]
        for key in self.param_groups[0]:
            if key in group:
                value = group[key]
                self.param_groups[0][key] = tuple(value) if key == "betas" else value
        self.state = {int(i): dict(s) for i, s in state_dict["state"].items()}


def make_optimizer(settings: TrainSettings, model: LeNet5) -> Optimizer:
    return Optimizer(model.parameters(), settings.optimizer, settings.lr, settings.weight_decay)


def training_subset(images: np.ndarray, labels: np.ndarray, size: int | None, seed: int):
    """The first ``size`` digits of a seeded shuffle (all of them, in order, for None)."""
    if size is None or size >= len(images):
        return images, labels
    if size < 1:
        raise SettingsError("empty", "the training subset is empty")
    keep = np.sort(np.random.default_rng(seed).permutation(len(images))[:size])
    return images[keep], labels[keep]


def validation_split(images: np.ndarray, labels: np.ndarray, size: int, seed: int = 12345):
    """(train images, labels, validation images, labels): ``size`` training digits of a
    fixed seeded shuffle held back for choosing recipes, so the test set is not used."""
    order = np.random.default_rng(seed).permutation(len(images))
    held, kept = np.sort(order[:size]), np.sort(order[size:])
    return images[kept], labels[kept], images[held], labels[held]


def setup(
    settings: TrainSettings,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    sha256: dict | str,
    device: torch.device | str = "cpu",
) -> Run:
    """A fresh run: the network, its optimiser and the data (train images, labels, test
    images, labels, uint8 as ``lenet.data.load_mnist`` gives them) on ``device``."""
    settings.validate()
    train_images, train_labels, test_images, test_labels = arrays
    train_images, train_labels = training_subset(
        train_images, train_labels, settings.train_size, settings.seed
    )
    if len(train_images) == 0:
        raise SettingsError("empty", "the training subset is empty")
    with _INIT_LOCK:
        torch.manual_seed(settings.seed)
        model = LeNet5(settings.model_config()).to(device)
    return Run(
        settings=settings,
        model=model,
        optimizer=make_optimizer(settings, model),
        generator=torch.Generator().manual_seed(settings.seed),
        train_x=torch.as_tensor(train_images).to(device),
        train_y=torch.as_tensor(train_labels, dtype=torch.long).to(device),
        test_images=test_images,
        test_labels=test_labels,
        sha256=sha256,
    )


def evaluate_run(run: Run) -> dict:
    """Accuracy, per-class accuracy and confusion matrix on the run's test digits."""
    # 500 digits at a time: C1's maps of a batch are 19 KB a digit, and the app's server
    # evaluates while it serves other sessions (its RSS budget is 600 MB).
    preds = [
        predict_padded(run.model, pad_unit(run.test_images[i : i + 500]).to(run.device))
        for i in range(0, len(run.test_images), 500)
    ]
    return summarize(run.test_labels, np.concatenate(preds) if preds else np.zeros(0, int))


def train_epochs(
    run: Run,
    *,
    on_batch: BatchHook | None = None,
    on_epoch: Callable[[Run, dict], None] | None = None,
    progress: bool = False,
) -> None:
    """The training loop, the same for ``python -m lenet.train`` and the app: epochs from
    ``run.epoch`` on, each followed by a test-set evaluation and ``on_epoch(run, result)``.
    ``progress`` draws a tqdm bar per epoch on stderr."""
    s = run.settings
    for epoch in range(run.epoch, s.epochs):
        started, cpu_started = time.perf_counter(), time.process_time()
        bar = tqdm(
            total=run.steps_per_epoch,
            desc=f"epoch {epoch + 1}/{s.epochs}",
            unit="batch",
            disable=not progress,
            file=sys.stderr,
        )

        def batch_done(done: int, images: int, loss: float, bar=bar) -> None:
            bar.update(done - bar.n)
            if done % 20 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            if on_batch is not None:
                on_batch(done, images, loss)

        try:
            loss, run.step = train_one_epoch(
                run.model,
                run.optimizer,
                run.train_x,
                run.train_y,
                batch_size=s.batch_size,
                step=run.step,
                total_steps=run.total_steps,
                peak_lr=s.lr,
                augment_batches=s.augment,
                distortions=s.distort,
                label_smoothing=s.label_smoothing,
                generator=run.generator,
                on_batch=batch_done,
            )
        finally:
            bar.close()
        seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
        _end_epoch(run, epoch, loss, seconds, on_epoch)


def _end_epoch(run: Run, epoch: int, loss: float, times: tuple, on_epoch) -> None:
    # (wall seconds, CPU seconds of the whole process): on a machine other jobs share, the
    # CPU time is the work the epoch took, the wall time what it took with them running
    seconds, cpu_seconds = times
    run.seconds += seconds
    result = evaluate_run(run)
    run.history.append(
        {
            "epoch": epoch + 1,
            "train_loss": loss,
            "test_accuracy": result["test_accuracy"],
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "images_per_second": round(len(run.train_x) / seconds, 1),
        }
    )
    run.epoch = epoch + 1
    if on_epoch is not None:
        on_epoch(run, result)


def resume_path(out: Path) -> Path:
    return out.with_name(out.name.replace(".safetensors", "") + ".resume.safetensors")


def save_resume(
    path: Path,
    model: LeNet5,
    optimizer,
    epoch: int,
    step: int,
    state: dict,
    generator: torch.Generator,
) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    scalars = {}
    for idx, per_param in opt_state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    # The generator that shuffles and augments: restoring it makes a resumed run identical
    # to an uninterrupted one (the global RNG is only used to initialise the weights).
    tensors["rng.generator"] = generator.get_state()
    metadata = {
        "config": json.dumps(model.config.to_dict()),
        "epoch": str(epoch),
        "step": str(step),
        "param_groups": json.dumps(opt_state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
        "state": json.dumps(state),
    }
    atomic_save(tensors, metadata, path)


def load_resume(path: Path, model: LeNet5, optimizer) -> tuple[int, int, dict, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if LeNetConfig.from_dict(json.loads(meta["config"])) != model.config:
        raise SystemExit(f"error: {path} was written for another variant; drop --resume")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[name] = value
    for key, value in json.loads(meta["optim_scalars"]).items():
        idx, name = key.split(".", 1)
        opt_state["state"].setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict(opt_state)
    return (
        int(meta["epoch"]),
        int(meta["step"]),
        json.loads(meta["state"]),
        tensors["rng.generator"],
    )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def add_distortion_arguments(parser: argparse.ArgumentParser) -> None:
    """Issue 19's options: the RBF prototypes, the extra distortions, a validation split."""
    parser.add_argument(
        "--prototypes", choices=PROTOTYPES, help="RBF output codes (default: paper)"
    )
    parser.add_argument(
        "--distort",
        help=f"more distortions after the affine ones, comma-separated: {','.join(DISTORTIONS)}",
    )
    parser.add_argument(
        "--validation",
        type=int,
        help="hold back this many training digits (seeded) and evaluate on them, not on the "
        "test set: for choosing a recipe (the checkpoint goes to runs/)",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train LeNet-5 on MNIST.")
    parser.add_argument(
        "--variant", choices=list(PRESETS), default="classic", help="preset: switches + recipe"
    )
    parser.add_argument("--activation", choices=ACTIVATIONS)
    parser.add_argument("--pooling", choices=POOLINGS)
    parser.add_argument("--c3-table", choices=C3_TABLES)
    parser.add_argument("--output", choices=OUTPUTS)
    add_distortion_arguments(parser)
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--batch-size", type=int, help="default: the preset's")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--train-size", type=int, help="a seeded subset of the training digits")
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--label-smoothing", type=float)
    augment = parser.add_mutually_exclusive_group()
    augment.add_argument("--augment", action="store_true", default=None, help="distort batches")
    augment.add_argument("--no-augment", action="store_true", help="train on the plain images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    parser.add_argument("--out", help="checkpoint path (default: models/lenet5-<variant>...)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--resume", action="store_true", help="continue from the resume file")
    parser.add_argument(
        "--dry-run", action="store_true", help="a few batches on a tiny subset (tests and CI)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args.settings = settings_from_args(args)
    except SettingsError as e:
        parser.error(str(e))
    recorded = (
        "epochs",
        "batch_size",
        "lr",
        "weight_decay",
        "label_smoothing",
        "augment",
        "distort",
    )
    for name in recorded:
        setattr(args, name, getattr(args.settings, name))  # what the model card records
    args.optimizer, args.train_size = args.settings.optimizer, args.settings.train_size
    if args.validation is not None and not 1000 <= args.validation <= 30000:
        parser.error("--validation must be between 1000 and 30000 digits")
    args.out = Path(args.out or default_out(args.variant, args.settings, args.validation))
    return args


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """The preset of ``--variant`` with the switches given on the command line."""
    names = ("activation", "pooling", "c3_table", "output", "prototypes", "optimizer", "epochs")
    names += ("batch_size", "lr", "train_size", "weight_decay", "label_smoothing", "seed")
    names += ("distort",)
    changes = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.augment or args.no_augment:
        changes["augment"] = not args.no_augment
    settings = replace(PRESETS[args.variant], **changes)
    if args.dry_run:
        settings = replace(settings, epochs=min(settings.epochs, 1))
    settings.validate()
    return settings


def default_out(preset: str, settings: TrainSettings, validation: int | None = None) -> Path:
    """models/lenet5-<variant>.safetensors for a shipped variant's own network; anything
    else, and any --validation run, goes to runs/ (models/ holds only the shipped
    checkpoints)."""
    if validation:
        return Path("runs") / f"lenet5-{preset}-validation.safetensors"
    if preset in VARIANTS and settings.model_config() == LeNetConfig.for_variant(preset):
        return default_path(preset)
    return Path("runs") / f"lenet5-{preset}.safetensors"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def interrupts_deferred():
    """SIGINT and SIGTERM wait until the block is done, then interrupt as usual: the
    checkpoint and the resume file of an epoch are written together or not at all."""
    received = []
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Denormal floats appear in the gradients of a few saturated units and make CPU
    # arithmetic ~10x slower; flushing them to zero changes nothing we can measure.
    torch.set_flush_denormal(True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        run = setup_from_files(args)
        if args.resume:
            resume(run, args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        train_epochs(
            run, on_epoch=lambda run, result: save_epoch(run, result, args), progress=not args.quiet
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {args.out} holds the last finished epoch; "
            f"continue with the same command and --resume",
            file=sys.stderr,
        )
        return 130
    except LossNotFinite as e:
        print(f"error: {e}; {args.out} holds the last finished epoch", file=sys.stderr)
        return 3
    resume_path(args.out).unlink(missing_ok=True)
    if run.history and not args.dry_run:
        add_drawn_digits(args.out, "dev" if args.validation else "eval")
    if run.history:
        print(
            f"wrote {args.out}: test accuracy {run.history[-1]['test_accuracy']:.2%} "
            f"in {run.seconds:.0f} s",
            file=sys.stderr,
        )
    return 0


def setup_from_files(args: argparse.Namespace) -> Run:
    """The command line's run: the MNIST files of ``--data`` (checksummed once)."""
    from lenet.data import dataset_sha256, load_mnist

    train_images, train_labels = load_mnist(args.data, "train")
    test_images, test_labels = load_mnist(args.data, "test")
    if args.validation:
        train_images, train_labels, test_images, test_labels = validation_split(
            train_images, train_labels, args.validation
        )
    if args.dry_run:
        train_images, train_labels = train_images[:512], train_labels[:512]
        test_images, test_labels = test_images[:256], test_labels[:256]
    arrays = (train_images, train_labels, test_images, test_labels)
    device = pick_device(args.device)
    return setup(args.settings, arrays, sha256=dataset_sha256(args.data), device=device)


def resume(run: Run, args: argparse.Namespace) -> None:
    resume_file = resume_path(args.out)
    if not resume_file.is_file():
        raise ValueError(f"nothing to resume: {resume_file} does not exist")
    run.epoch, run.step, state, rng = load_resume(resume_file, run.model, run.optimizer)
    run.history, run.seconds = state["history"], state["seconds"]
    run.generator.set_state(rng)
    print(f"resuming {args.variant} after epoch {run.epoch}", file=sys.stderr)


def save_epoch(run: Run, result: dict, args: argparse.Namespace) -> None:
    """The command line's end of an epoch: a line on stderr, the checkpoint, the resume file."""
    last = run.history[-1]
    print(
        f"epoch {last['epoch']}: loss {last['train_loss']:.4f}, "
        f"test accuracy {result['test_accuracy']:.2%}, {last['seconds']:.1f} s",
        file=sys.stderr,
    )
    card = make_card(args, run.model, result, run.history, run.seconds, run.sha256)
    model_cpu = run.model.to("cpu")
    # Checkpoint first, then the resume file: even a SIGKILL between the two leaves
    # a resume file that is at most one epoch behind (the epoch is trained again).
    with interrupts_deferred():
        save_checkpoint(model_cpu, args.out, card)
        state = {"history": run.history, "seconds": run.seconds}
        save_resume(
            resume_path(args.out),
            model_cpu,
            run.optimizer,
            run.epoch,
            run.step,
            state,
            run.generator,
        )
    run.model.to(run.device)


def add_drawn_digits(path: Path, split: str) -> None:
    """Measure the finished checkpoint on lenet.drawn's drawn digits (the eval split; the
    dev split for a --validation run) and write the result into its card."""
    from lenet.checkpoint import load_checkpoint, read_card
    from lenet.drawn import card_entry

    model, card = load_checkpoint(path), read_card(path)
    card["drawn"] = card_entry(model, split)
    with interrupts_deferred():
        save_checkpoint(model, path, card)
    by_pen = ", ".join(f"{pen} {a:.1%}" for pen, a in card["drawn"]["by_pen"].items())
    print(f"drawn digits ({split}): {card['drawn']['accuracy']:.1%} ({by_pen})", file=sys.stderr)


def make_card(args, model, result, history, seconds, sha256) -> dict:
    """The model card. ``args`` holds the run's settings by name (the command line's
    namespace, or ``job_args`` for the app), ``argv`` the command's arguments."""
    sgd = getattr(args, "optimizer", "adamw") == "sgd_momentum"
    return {
        "variant": model.config.variant,
        "preset": args.variant,
        "command": " ".join(["python -m lenet.train", *args.argv]),
        "train_size": getattr(args, "train_size", None),
        "hyperparameters": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "label_smoothing": args.label_smoothing,
            "optimizer": OPTIMIZER_SGD if sgd else OPTIMIZER,
            "augment": args.augment,
            "distort": getattr(args, "distort", ""),
            "loss": (
                loss_rbf(model.config.rbf_temperature)
                if model.config.output == "rbf"
                else LOSS_SOFTMAX
            ),
        },
        "prototypes": prototypes_card(model.config),
        "seed": args.seed,
        "validation": getattr(args, "validation", None),
        "dry_run": bool(args.dry_run),
        "dataset": {"name": "MNIST", "sha256": sha256},
        **result,
        "epochs_trained": len(history),
        "history": history,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(sum(h.get("cpu_seconds", 0.0) for h in history), 1),
        "torch_threads": torch.get_num_threads(),
        "device": str(next(model.parameters()).device),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
    }


if __name__ == "__main__":
    sys.exit(main())
