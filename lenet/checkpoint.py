"""Checkpoints as safetensors files (never pickle): the weights, the config that rebuilds
the model, and a model card (JSON in the file's metadata). Writes are atomic."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from lenet.model import VARIANTS, LeNet5, LeNetConfig

FORMAT = "lenet5-teaching/1"
# The models folder is one setting: $LENET_MODELS_DIR, else models/ beside the code. It is
# read at each call, so a test, a benchmark or a deployment points the app elsewhere by
# setting the variable, not by replacing module globals.
MODELS_DIR_ENV = "LENET_MODELS_DIR"
SHIPPED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_DIR_ENV) or SHIPPED_MODELS_DIR)


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message names the file and how to rebuild it."""


def default_path(variant: str) -> Path:
    return models_dir() / f"lenet5-{variant}.safetensors"


def rebuild_command(path: str | os.PathLike, variant: str | None = None) -> str:
    """The training command that rebuilds ``path``. The variant comes from the caller
    (who read the checkpoint's config); for a file whose config cannot be read, only a
    shipped checkpoint's own name (``default_path``) says which variant it was."""
    if variant not in VARIANTS:
        name = Path(path).name
        known = [v for v in VARIANTS if default_path(v).name == name]
        variant = known[0] if known else "<" + "|".join(VARIANTS) + ">"
    return f"python -m lenet.train --variant {variant} --out {path}"


def atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    """Write a safetensors file through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _metadata(model: LeNet5, card: dict | None) -> dict[str, str]:
    return {
        "format": FORMAT,
        "config": json.dumps(model.config.to_dict()),
        "card": json.dumps(card or {}),
    }


def save_checkpoint(model: LeNet5, path: str | os.PathLike, card: dict | None = None) -> None:
    atomic_save(model.state_dict(), _metadata(model, card), Path(path))


def checkpoint_bytes(model: LeNet5, card: dict | None = None) -> bytes:
    """The checkpoint ``save_checkpoint`` writes, as bytes (the app's download button)."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return save(tensors, _metadata(model, card))


def _fail(path: Path, what: str, variant: str | None = None) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint {path} {what}. Rebuild it with: {rebuild_command(path, variant)}"
    )


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as e:  # safetensors raises several types for corrupt files
        raise _fail(path, f"is not a readable safetensors file ({e})") from None


def read_config(path: str | os.PathLike) -> LeNetConfig:
    path = Path(path)
    metadata = read_metadata(path)
    try:
        return LeNetConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(path, f"has a missing or unknown config ({e})") from None


def read_variant(path: str | os.PathLike) -> str:
    """The variant a checkpoint holds, from its own config (reads the header only)."""
    return read_config(path).variant


def read_card(path: str | os.PathLike) -> dict:
    """The model card stored in a checkpoint (cheap: reads the header only)."""
    path = Path(path)
    try:
        card = json.loads(read_metadata(path).get("card", "{}"))
    except ValueError as e:
        raise _fail(path, f"has an unreadable model card ({e})") from None
    if not isinstance(card, dict):
        raise _fail(path, "has a model card that is not a JSON object")
    return card


def load_checkpoint(path: str | os.PathLike) -> LeNet5:
    """Rebuild the model a checkpoint describes and load its weights; in eval mode."""
    path = Path(path)
    config = read_config(path)
    model = LeNet5(config)
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    except Exception as e:
        raise _fail(path, f"has unreadable tensors ({e})", config.variant) from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise _fail(
            path,
            f"does not match the model (missing {missing}, unexpected {unexpected})",
            config.variant,
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise _fail(
                path,
                f"has tensor {key} of shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}",
                config.variant,
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise _fail(path, f"has non-finite values in {key}", config.variant)
    model.load_state_dict(state)
    return model.eval()
