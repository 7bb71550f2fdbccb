"""lenet.training_view: the page's settings from its widgets, C1's kernels as an image,
the comparison with a shipped checkpoint, and the download's bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lenet import jobs, train
from lenet import training_view as tv
from lenet.checkpoint import checkpoint_bytes, load_checkpoint, read_card
from lenet.model import build_model


@pytest.mark.parametrize("preset", list(train.PRESETS))
def test_a_presets_widget_values_give_back_the_preset(preset):
    values = tv.widget_values(preset)
    assert tv.settings_from(preset, values) == train.PRESETS[preset]
    assert values["lr"] in tv.LR_CHOICES
    assert values["batch_size"] in tv.BATCH_CHOICES
    assert values["train_size"] in tv.TRAIN_SIZES
    assert 1 <= values["epochs"] <= tv.MAX_EPOCHS


def test_the_widgets_change_only_their_switches():
    values = {**tv.widget_values("modern"), "pooling": "avg", "train_size": 5000}
    settings = tv.settings_from("modern", values)
    assert settings.pooling == "avg" and settings.train_size == 5000
    assert settings.label_smoothing == train.PRESETS["modern"].label_smoothing


def test_kernels_image_shows_zero_as_mid_grey_and_the_extremes_as_black_and_white():
    kernels = np.zeros((6, 5, 5), np.float32)
    kernels[0, 0, 0], kernels[5, 4, 4] = 2.0, -2.0
    image = tv.kernels_image(kernels, size=10)
    assert image.dtype == np.uint8 and image.ndim == 2
    assert image.max() == 255 and image.min() == 0
    assert np.median(image) in (127, 128)
    assert image.shape[0] == 5 * 2 and image.shape[1] >= 6 * 5 * 2  # each kernel ~10 px


def test_compare_with_the_shipped_card():
    job = jobs.Job("j1", "s", 1, "quick", train.PRESETS["quick"])
    job.model = build_model("modern")
    job.result = {"test_accuracy": 0.97}
    job.started, job.finished = 10.0, 25.0
    card = {"test_accuracy": 0.9952, "history": [{}] * 30, "train_seconds": 169.0}
    c = tv.compare(job, card)
    assert c.variant == "modern" and c.shipped_epochs == 30 and c.own_seconds == 15.0
    assert c.gap_points == pytest.approx(2.52)
    assert tv.compare(job, None) is None
    assert tv.percent(0.97836) == "97.84%"


def test_the_download_is_a_normal_checkpoint(tmp_path):
    model = build_model("lecun1998")
    card = {"variant": "lecun1998", "test_accuracy": 0.5}
    path = tmp_path / "own.safetensors"
    path.write_bytes(checkpoint_bytes(model, card))
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert read_card(path) == card
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
