"""Tests for lenet.checkpoint: safetensors round trip, atomic writes, and a clear
CheckpointError (naming the file and the command that rebuilds it) for every broken file."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lenet import checkpoint
from lenet.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_card,
    read_config,
    save_checkpoint,
)
from lenet.model import VARIANTS, LeNetConfig, build_model

CARD = {"variant": "x", "test_accuracy": 0.987, "history": [{"epoch": 1}], "nested": {"a": [1, 2]}}


def trained_looking(variant: str, seed: int = 0):
    """A model whose weights differ from a fresh model's (so loading must really load)."""
    torch.manual_seed(seed)
    model = build_model(variant)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model.train()


@pytest.mark.parametrize("variant", VARIANTS)
def test_round_trip(tmp_path, variant):
    model = trained_looking(variant, seed=1)
    path = tmp_path / f"lenet5-{variant}.safetensors"
    save_checkpoint(model, path, {**CARD, "variant": variant})

    torch.manual_seed(99)  # the loader's fresh model starts from other weights
    loaded = load_checkpoint(path)
    assert not loaded.training  # eval mode
    assert loaded.config == model.config
    assert loaded.config == LeNetConfig.for_variant(variant)
    assert type(loaded.s2) is type(model.s2) and type(loaded.output) is type(model.output)
    saved, restored = model.state_dict(), loaded.state_dict()
    assert saved.keys() == restored.keys()
    for key in saved:
        assert torch.equal(saved[key], restored[key]), key
    x = torch.randn(4, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert read_card(path) == {**CARD, "variant": variant}
    assert read_config(path) == model.config


def test_save_without_card_gives_an_empty_card(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(build_model("classic"), path)
    assert read_card(path) == {}


def test_file_is_plain_safetensors_with_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(build_model("lecun1998"), path, CARD)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == checkpoint.FORMAT
    config = LeNetConfig.for_variant("lecun1998")
    assert LeNetConfig.from_dict(json.loads(meta["config"])) == config
    assert json.loads(meta["config"]) == json.loads(json.dumps(config.to_dict()))
    assert json.loads(meta["card"]) == CARD
    assert set(header) == set(build_model("lecun1998").state_dict())


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(trained_looking("classic", 1), path, {"test_accuracy": 0.5})
    before = path.read_bytes()

    def broken_save(tensors, filename, metadata=None):
        # write part of a file, as a crash or a full disk would, then fail
        Path(filename).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(trained_looking("classic", 2), path, {"test_accuracy": 0.9})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp left
    assert read_card(path) == {"test_accuracy": 0.5}
    load_checkpoint(path)


def test_save_is_atomic_on_interrupt(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(build_model("modern"), path)
    before = path.read_bytes()

    def interrupted(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(build_model("modern"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_save_creates_the_folder_and_overwrites(tmp_path):
    path = tmp_path / "new" / "folder" / "m.safetensors"
    save_checkpoint(build_model("classic"), path, {"n": 1})
    save_checkpoint(build_model("classic"), path, {"n": 2})
    assert read_card(path) == {"n": 2}
    assert [p.name for p in path.parent.iterdir()] == ["m.safetensors"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


# -------------------------------------------------------------------------------------------
# broken files
# -------------------------------------------------------------------------------------------


def assert_checkpoint_error(path: Path, *, also: str | None = None) -> str:
    for reader in (load_checkpoint, read_config):
        with pytest.raises(CheckpointError) as info:
            reader(path)
        message = str(info.value)
        assert str(path) in message
        assert "python -m lenet.train" in message
        if also:
            assert also in message
    return message


def write_raw(path: Path, tensors: dict, metadata: dict) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata)
    return path


def metadata_for(config: dict, card: dict | None = None) -> dict:
    return {
        "format": checkpoint.FORMAT,
        "config": json.dumps(config),
        "card": json.dumps(card or {}),
    }


def test_missing_file(tmp_path):
    path = tmp_path / "lenet5-modern.safetensors"
    message = assert_checkpoint_error(path, also="does not exist")
    assert "--variant modern" in message  # the variant is guessed from the name
    with pytest.raises(CheckpointError):
        read_card(path)


def test_directory_instead_of_file(tmp_path):
    path = tmp_path / "lenet5-classic.safetensors"
    path.mkdir()
    assert_checkpoint_error(path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_truncated_file(tmp_path, variant):
    path = tmp_path / f"lenet5-{variant}.safetensors"
    save_checkpoint(build_model(variant), path, CARD)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    message = assert_checkpoint_error(path)
    assert f"--variant {variant}" in message


def test_random_bytes(tmp_path):
    path = tmp_path / "lenet5-classic.safetensors"
    path.write_bytes(os.urandom(4096))
    assert_checkpoint_error(path)
    with pytest.raises(CheckpointError):
        read_card(path)


def test_empty_file(tmp_path):
    path = tmp_path / "lenet5-classic.safetensors"
    path.write_bytes(b"")
    assert_checkpoint_error(path)


def test_wrong_shape_tensor(tmp_path):
    model = build_model("classic")
    state = dict(model.state_dict())
    state["c1.weight"] = torch.zeros(6, 1, 3, 3)
    path = write_raw(tmp_path / "m.safetensors", state, metadata_for(model.config.to_dict()))
    with pytest.raises(CheckpointError, match="c1.weight") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "python -m lenet.train" in str(info.value)


def test_missing_tensor(tmp_path):
    model = build_model("lecun1998")
    state = dict(model.state_dict())
    del state["c3.mask"]
    path = write_raw(tmp_path / "m.safetensors", state, metadata_for(model.config.to_dict()))
    with pytest.raises(CheckpointError, match="c3.mask") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "--variant lecun1998" in str(info.value)


def test_weights_of_another_variant(tmp_path):
    """A classic model's tensors under a lecun1998 config: it must not half-load."""
    state = build_model("classic").state_dict()
    config = LeNetConfig.for_variant("lecun1998").to_dict()
    path = write_raw(tmp_path / "m.safetensors", state, metadata_for(config))
    with pytest.raises(CheckpointError, match="python -m lenet.train"):
        load_checkpoint(path)


def test_non_finite_weights(tmp_path):
    model = build_model("classic")
    state = dict(model.state_dict())
    state["f6.weight"] = state["f6.weight"].clone()
    state["f6.weight"][0, 0] = float("nan")
    path = write_raw(tmp_path / "m.safetensors", state, metadata_for(model.config.to_dict()))
    with pytest.raises(CheckpointError, match="f6.weight"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "config",
    [
        {**LeNetConfig().to_dict(), "variant": "foo"},
        {**LeNetConfig().to_dict(), "dropout": 0.5},
        {**LeNetConfig().to_dict(), "pooling": "median"},
    ],
    ids=["variant-foo", "unknown-key", "unknown-value"],
)
def test_unknown_config(tmp_path, config):
    path = write_raw(tmp_path / "m.safetensors", build_model().state_dict(), metadata_for(config))
    assert_checkpoint_error(path, also="config")


def test_non_json_config(tmp_path):
    meta = {"format": checkpoint.FORMAT, "config": "{variant: classic", "card": "{}"}
    path = write_raw(tmp_path / "m.safetensors", build_model().state_dict(), meta)
    assert_checkpoint_error(path, also="config")


def test_config_that_is_not_an_object(tmp_path):
    meta = {"format": checkpoint.FORMAT, "config": "[1, 2]", "card": "{}"}
    path = write_raw(tmp_path / "m.safetensors", build_model().state_dict(), meta)
    assert_checkpoint_error(path, also="config")


def test_missing_config(tmp_path):
    path = write_raw(tmp_path / "m.safetensors", build_model().state_dict(), {"card": "{}"})
    assert_checkpoint_error(path, also="config")


def test_no_metadata_at_all(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file(build_model().state_dict(), str(path))
    assert_checkpoint_error(path)


def test_unreadable_card(tmp_path):
    meta = metadata_for(LeNetConfig().to_dict())
    meta["card"] = "not json"
    path = write_raw(tmp_path / "m.safetensors", build_model().state_dict(), meta)
    with pytest.raises(CheckpointError, match="python -m lenet.train"):
        read_card(path)
    meta["card"] = "[1]"
    path = write_raw(tmp_path / "n.safetensors", build_model().state_dict(), meta)
    with pytest.raises(CheckpointError, match="JSON object"):
        read_card(path)


def test_default_path_and_rebuild_command():
    for variant in VARIANTS:
        path = checkpoint.default_path(variant)
        assert path.name == f"lenet5-{variant}.safetensors"
        assert path.parent.name == "models"
        assert checkpoint.rebuild_command(path) == (
            f"python -m lenet.train --variant {variant} --out {path}"
        )


def test_the_variant_comes_from_the_config_not_the_file_name(tmp_path):
    path = tmp_path / "lenet5-modern.safetensors"  # a misleading name
    save_checkpoint(build_model("lecun1998"), path)
    assert checkpoint.read_variant(path) == "lecun1998"
    # a broken file named like no shipped checkpoint: no variant is guessed
    other = tmp_path / "mine-modern-ish.safetensors"
    assert "--variant <classic|modern|lecun1998>" in checkpoint.rebuild_command(other)


def test_the_models_folder_is_one_setting(tmp_path, monkeypatch):
    assert checkpoint.models_dir() == checkpoint.SHIPPED_MODELS_DIR
    monkeypatch.setenv("LENET_MODELS_DIR", str(tmp_path))
    assert checkpoint.models_dir() == tmp_path
    assert checkpoint.default_path("classic") == tmp_path / "lenet5-classic.safetensors"
    from lenet.sample import sample_path

    assert sample_path() == tmp_path / "mnist-sample.npz"
