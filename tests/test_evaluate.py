"""Tests for lenet.evaluate: confusion matrix, summary, the card check and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lenet import evaluate, train
from lenet.checkpoint import load_checkpoint, read_card, save_checkpoint
from lenet.data import load_mnist
from lenet.evaluate import card_disagreements, confusion_matrix, summarize
from tests.mnist_files import write_mnist

LABELS = np.array([0, 0, 1, 1, 1, 2, 3, 3, 9, 9, 9, 9])
PREDS = np.array([0, 1, 1, 1, 7, 2, 3, 2, 9, 9, 4, 9])


def test_confusion_matrix_counts_each_pair():
    matrix = confusion_matrix(LABELS, PREDS)
    assert matrix.shape == (10, 10)
    expected = np.zeros((10, 10), dtype=np.int64)
    for true, pred in zip(LABELS.tolist(), PREDS.tolist(), strict=True):
        expected[true][pred] += 1
    np.testing.assert_array_equal(matrix, expected)
    assert matrix[1, 7] == 1 and matrix[7, 1] == 0  # rows are true labels
    assert matrix.sum() == len(LABELS)


def test_confusion_matrix_accepts_uint8_and_torch_style_ints():
    a = confusion_matrix(LABELS.astype(np.uint8), PREDS.astype(np.int64))
    np.testing.assert_array_equal(a, confusion_matrix(LABELS, PREDS))


def test_summarize():
    result = summarize(LABELS, PREDS)
    correct = sum(int(t == p) for t, p in zip(LABELS.tolist(), PREDS.tolist(), strict=True))
    assert result["test_accuracy"] == pytest.approx(correct / len(LABELS))
    assert result["test_images"] == len(LABELS)
    assert result["misclassified"] == len(LABELS) - correct
    per_class = result["per_class_accuracy"]
    assert len(per_class) == 10
    for digit in range(10):
        mine = [
            p == digit for t, p in zip(LABELS.tolist(), PREDS.tolist(), strict=True) if t == digit
        ]
        expected = sum(mine) / len(mine) if mine else 0.0
        assert per_class[digit] == pytest.approx(expected), digit
    assert result["confusion_matrix"] == confusion_matrix(LABELS, PREDS).tolist()
    # JSON-ready: plain Python numbers
    assert isinstance(result["test_accuracy"], float)
    assert all(type(v) is int for row in result["confusion_matrix"] for v in row)


def test_summarize_of_nothing():
    result = summarize(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert result["test_images"] == 0
    assert result["test_accuracy"] == 0.0
    assert np.array(result["confusion_matrix"]).sum() == 0


def test_card_disagreements():
    result = summarize(LABELS, PREDS)  # 12 images: tolerance 2/12
    assert card_disagreements({"test_accuracy": result["test_accuracy"]}, result) == []
    assert (
        card_disagreements(
            {"test_accuracy": result["test_accuracy"] + 1.5 / 12, "test_images": 12}, result
        )
        == []
    )  # within two images
    wrong = card_disagreements({"test_accuracy": result["test_accuracy"] + 3 / 12}, result)
    assert len(wrong) == 1 and "test accuracy" in wrong[0]
    assert card_disagreements({"test_accuracy": 0.999}, result)
    assert card_disagreements({}, result) == ["the model card has no test_accuracy"]
    assert card_disagreements(
        {"test_accuracy": result["test_accuracy"], "test_images": 10000}, result
    )


def test_card_tolerance_is_two_images_of_ten_thousand():
    labels = np.zeros(10000, np.int64)
    preds = labels.copy()
    preds[:30] = 1
    result = summarize(labels, preds)
    assert card_disagreements({"test_accuracy": 0.9970}, result) == []
    assert card_disagreements({"test_accuracy": 0.99719}, result) == []  # 1.9 images
    assert card_disagreements({"test_accuracy": 0.99681}, result) == []
    assert card_disagreements({"test_accuracy": 0.99725}, result)  # 2.5 images
    assert card_disagreements({"test_accuracy": 0.99675}, result)


def test_predict_matches_the_model(tmp_path):
    torch.manual_seed(0)
    from lenet.model import build_model
    from lenet.preprocess import to_tensor

    model = build_model("lecun1998").eval()
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        expected = model(to_tensor(images)).argmax(1).numpy()
    np.testing.assert_array_equal(evaluate.predict(model, images, batch_size=3), expected)
    assert evaluate.predict(model, images[:0]).shape == (0,)


@pytest.fixture(scope="module")
def dry_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """A dry-run checkpoint and a data folder whose test split is the 256 images it was
    measured on."""
    root = tmp_path_factory.mktemp("eval")
    data = write_mnist(root / "mnist", 512, 256)
    out = root / "lenet5-classic.safetensors"
    argv = ["--dry-run", "--data", str(data), "--out", str(out), "--quiet", "--device", "cpu"]
    assert train.main(argv) == 0
    return out, data


def test_main_agrees_with_a_fresh_dry_run(dry_checkpoint, capsys):
    out, data = dry_checkpoint
    assert evaluate.main([str(out), "--data", str(data)]) == 0
    printed = capsys.readouterr()
    card = read_card(out)
    assert "agrees" in printed.out
    assert f"{card['test_accuracy']:.2%}" in printed.out
    assert "MISMATCH" not in printed.err


def test_main_flags_a_tampered_card(dry_checkpoint, tmp_path, capsys):
    out, data = dry_checkpoint
    card = read_card(out)
    card["test_accuracy"] = (card["test_accuracy"] + 0.5) % 1.0  # 128 images off
    tampered = tmp_path / "lenet5-classic.safetensors"
    save_checkpoint(load_checkpoint(out), tampered, card)
    assert evaluate.main([str(tampered), "--data", str(data)]) == 1
    assert "MISMATCH" in capsys.readouterr().err


def test_main_flags_a_card_measured_on_other_images(dry_checkpoint, tmp_path, capsys):
    """The dry-run card (256 images) does not describe a 300-image test set."""
    out, _ = dry_checkpoint
    other = write_mnist(tmp_path / "other", 10, 300, seed=5)
    images, labels = load_mnist(other, "test")
    assert len(labels) == 300
    assert evaluate.main([str(out), "--data", str(other)]) == 1
    assert "256" in capsys.readouterr().err


def test_main_reports_a_broken_checkpoint(tmp_path, capsys):
    path = tmp_path / "lenet5-modern.safetensors"
    path.write_bytes(b"garbage")
    assert evaluate.main([str(path), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "python -m lenet.train" in err


def test_main_reports_missing_data(dry_checkpoint, tmp_path, capsys):
    out, _ = dry_checkpoint
    assert evaluate.main([str(out), "--data", str(tmp_path / "none")]) == 2
    assert "python -m lenet.data download" in capsys.readouterr().err
