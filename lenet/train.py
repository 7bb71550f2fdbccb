"""Train a LeNet-5 on MNIST and write a safetensors checkpoint with its model card.

    python -m lenet.train --variant classic --out models/lenet5-classic.safetensors

The whole training set lives in one tensor; each batch is augmented at once (a random
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
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lenet.cards import LOSS_SOFTMAX, OPTIMIZER, PROTOTYPES, loss_rbf
from lenet.checkpoint import atomic_save, default_path, save_checkpoint
from lenet.evaluate import predict_padded, summarize
from lenet.model import VARIANTS, LeNet5, LeNetConfig
from lenet.preprocess import pad_unit


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float
    batch_size: int = 128
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    augment: bool = True


# The recipes that produced the shipped checkpoints (README: "Retraining").
RECIPES = {
    "classic": Recipe(epochs=30, lr=3e-3),
    "modern": Recipe(epochs=30, lr=3e-3, label_smoothing=0.1),
    "lecun1998": Recipe(epochs=24, lr=3e-3),
}


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


class Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, total: int, label: str, enabled: bool = True):
        self.total, self.label, self.enabled = total, label, enabled
        self.start = time.perf_counter()

    def update(self, done: int, images: int, loss: float) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        filled = int(30 * done / self.total)
        bar = "#" * filled + "." * (30 - filled)
        rate = images / max(elapsed, 1e-9)
        print(
            f"\r{self.label} [{bar}] {done}/{self.total} loss {loss:.4f} {rate:,.0f} img/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


def train_one_epoch(
    model: LeNet5,
    optimizer: torch.optim.Optimizer,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    batch_size: int,
    step: int,
    total_steps: int,
    peak_lr: float,
    augment_batches: bool,
    label_smoothing: float = 0.0,
    generator: torch.Generator,
    progress: Progress,
) -> tuple[float, int]:
    """One pass over the training set; returns (mean loss, global step)."""
    model.train()
    order = torch.randperm(len(train_x), generator=generator)
    batches = range(0, len(order), batch_size)
    loss_sum, seen = 0.0, 0
    for b, start in enumerate(batches):
        idx = order[start : start + batch_size]
        x = train_x[idx]
        if augment_batches:
            x = augment(x, generator)
        for group in optimizer.param_groups:
            group["lr"] = one_cycle_lr(step, total_steps, peak_lr)
        loss = F.cross_entropy(model(x), train_y[idx], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        loss_sum += loss.item() * len(idx)
        seen += len(idx)
        if b % 20 == 0 or b == len(batches) - 1:
            progress.update(b + 1, seen, loss_sum / seen)
    progress.close()
    return loss_sum / max(seen, 1), step


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train LeNet-5 on MNIST.")
    parser.add_argument("--variant", choices=VARIANTS, default="classic")
    parser.add_argument("--epochs", type=int, help="default: the variant's recipe")
    parser.add_argument("--batch-size", type=int, help="default: the variant's recipe")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--no-augment", action="store_true", help="train on the plain images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    parser.add_argument(
        "--out", help="checkpoint path (default: models/lenet5-<variant>.safetensors)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--resume", action="store_true", help="continue from the resume file")
    parser.add_argument(
        "--dry-run", action="store_true", help="a few batches on a tiny subset (tests and CI)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    recipe = RECIPES[args.variant]
    for name in ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(recipe, name))
    args.augment = recipe.augment and not args.no_augment
    if args.dry_run:
        args.epochs = min(args.epochs, 1)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--epochs, --batch-size and --lr must be positive")
    args.out = Path(args.out or default_path(args.variant))
    return args


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
    from lenet.data import dataset_sha256, load_mnist

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    # Denormal floats appear in the gradients of a few saturated units and make CPU
    # arithmetic ~10x slower; flushing them to zero changes nothing we can measure.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    try:
        train_images, train_labels = load_mnist(args.data, "train")
        test_images, test_labels = load_mnist(args.data, "test")
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        train_images, train_labels = train_images[:512], train_labels[:512]
        test_images, test_labels = test_images[:256], test_labels[:256]
    train_x = pad_unit(train_images).to(device)
    train_y = torch.as_tensor(train_labels, dtype=torch.long).to(device)
    test_x = pad_unit(test_images).to(device)

    model = LeNet5(LeNetConfig.for_variant(args.variant)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    total_steps = args.epochs * steps_per_epoch

    first_epoch, step, history, seconds = 0, 0, [], 0.0
    resume_file = resume_path(args.out)
    if args.resume:
        if not resume_file.is_file():
            print(f"error: nothing to resume: {resume_file} does not exist", file=sys.stderr)
            return 2
        first_epoch, step, state, rng = load_resume(resume_file, model, optimizer)
        history, seconds = state["history"], state["seconds"]
        generator.set_state(rng)
        print(f"resuming {args.variant} after epoch {first_epoch}", file=sys.stderr)

    card, sha256 = {}, dataset_sha256(args.data)  # once per run, not once per epoch
    try:
        for epoch in range(first_epoch, args.epochs):
            started = time.perf_counter()
            progress = Progress(steps_per_epoch, f"epoch {epoch + 1}/{args.epochs}", not args.quiet)
            loss, step = train_one_epoch(
                model,
                optimizer,
                train_x,
                train_y,
                batch_size=args.batch_size,
                step=step,
                total_steps=total_steps,
                peak_lr=args.lr,
                augment_batches=args.augment,
                label_smoothing=args.label_smoothing,
                generator=generator,
                progress=progress,
            )
            epoch_seconds = time.perf_counter() - started
            seconds += epoch_seconds
            result = summarize(test_labels, predict_padded(model, test_x))
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": loss,
                    "test_accuracy": result["test_accuracy"],
                    "seconds": round(epoch_seconds, 2),
                    "images_per_second": round(len(train_x) / epoch_seconds, 1),
                }
            )
            print(
                f"epoch {epoch + 1}: loss {loss:.4f}, test accuracy {result['test_accuracy']:.2%}, "
                f"{epoch_seconds:.1f} s",
                file=sys.stderr,
            )
            card = make_card(args, model, result, history, seconds, sha256)
            model_cpu = model.to("cpu")
            # Checkpoint first, then the resume file: even a SIGKILL between the two leaves
            # a resume file that is at most one epoch behind (the epoch is trained again).
            with interrupts_deferred():
                save_checkpoint(model_cpu, args.out, card)
                save_resume(
                    resume_file,
                    model_cpu,
                    optimizer,
                    epoch + 1,
                    step,
                    {"history": history, "seconds": seconds},
                    generator,
                )
            model.to(device)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {args.out} holds the last finished epoch; "
            f"continue with the same command and --resume",
            file=sys.stderr,
        )
        return 130
    resume_file.unlink(missing_ok=True)
    if card:
        print(
            f"wrote {args.out}: test accuracy {card['test_accuracy']:.2%} in {seconds:.0f} s",
            file=sys.stderr,
        )
    return 0


def make_card(args, model, result, history, seconds, sha256) -> dict:
    return {
        "variant": args.variant,
        "command": " ".join(["python -m lenet.train", *args.argv]),
        "hyperparameters": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "label_smoothing": args.label_smoothing,
            "optimizer": OPTIMIZER,
            "augment": args.augment,
            "loss": (
                loss_rbf(model.config.rbf_temperature)
                if model.config.output == "rbf"
                else LOSS_SOFTMAX
            ),
        },
        "prototypes": (PROTOTYPES if model.config.output == "rbf" else None),
        "seed": args.seed,
        "dry_run": bool(args.dry_run),
        "dataset": {"name": "MNIST", "sha256": sha256},
        **result,
        "epochs_trained": len(history),
        "history": history,
        "train_seconds": round(seconds, 1),
        "device": str(next(model.parameters()).device),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
    }


if __name__ == "__main__":
    sys.exit(main())
