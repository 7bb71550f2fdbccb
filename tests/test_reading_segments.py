"""lenet.segments, the reader's segment scorer: rows made from digits with known owners,
the labels of the candidates cut from them, the scorer's file, the command on a few rows,
and the reader with the shipped scorer on touching pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lenet import segments
from lenet.checkpoint import SHIPPED_MODELS_DIR, CheckpointError, load_checkpoint, read_card
from lenet.preprocess import rgba_to_ink, to_tensor
from lenet.reading import Candidate, candidate_spans, label_components, over_segment, read_number
from lenet.segments import NONE, SegmentScorer, compose_row, label_candidates, load_scorer
from lenet_testkit.digits import render, strip

MNIST_DIR = SHIPPED_MODELS_DIR.parent / "data" / "mnist"

CLASSIC = SHIPPED_MODELS_DIR / "lenet5-classic.safetensors"
SCORER = SHIPPED_MODELS_DIR / segments.FILENAME


def tile(digit: int) -> np.ndarray:
    """A digit drawn with a pen as a 60-pixel-high ink tile, trimmed to its ink."""
    ink = rgba_to_ink(render(digit))
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    small = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.asarray(Image.fromarray(small).resize((40, 60), Image.Resampling.BILINEAR))


@pytest.mark.parametrize(("gap", "components"), [(8, 3), (-3, 1)])
def test_a_row_has_each_pixel_owned_by_its_digit(gap, components):
    tiles = [tile(d) for d in (2, 0, 7)]
    ink, owner = compose_row(tiles, [gap] * 3, [0, 2, 1])
    assert ink.shape == owner.shape
    assert np.array_equal(owner >= 0, ink > 0)
    for k, t in enumerate(tiles):  # each digit keeps (nearly) all of its ink
        assert (ink[owner == k] > 0).sum() >= 0.9 * (t > 0).sum()
    _, boxes = label_components(ink > 25)
    assert len(boxes) == components


def test_candidates_are_labelled_from_the_owners():
    ink, owner = compose_row([tile(d) for d in (2, 0, 7)], [10] * 3, [0, 0, 0])
    pieces = over_segment(ink)
    spans = candidate_spans(pieces)
    labels = dict(zip(spans, label_candidates(ink, owner, pieces, spans, 3), strict=True))
    n = len(pieces.boxes)
    assert n == 3  # digits apart: one piece each
    assert [labels[(k, k + 1)] for k in range(3)] == [0, 1, 2]
    assert labels.get((0, 2)) == NONE and labels.get((1, 3)) == NONE


def test_the_scorer_file_round_trips(tmp_path):
    torch.manual_seed(0)
    model = SegmentScorer().eval()
    path = tmp_path / "s.safetensors"
    segments.save_scorer(model, path, {"note": "untrained"})
    loaded = load_scorer(path)
    x = torch.rand(3, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    assert loaded(x).shape == (3, 11)
    assert load_scorer(tmp_path / "missing.safetensors") is None
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="python -m lenet.segments"):
        load_scorer(tmp_path / "bad.safetensors")


@pytest.mark.skipif(not CLASSIC.is_file(), reason="models/lenet5-classic.safetensors missing")
def test_a_digit_checkpoint_is_not_a_scorer_and_the_scorer_is_not_a_checkpoint(
    tmp_path, monkeypatch
):
    from lenet import ui

    with pytest.raises(CheckpointError, match="format"):
        load_scorer(CLASSIC)
    (tmp_path / "lenet5-classic.safetensors").write_bytes(CLASSIC.read_bytes())
    segments.save_scorer(SegmentScorer(), tmp_path / segments.FILENAME, {})
    monkeypatch.setenv("LENET_MODELS_DIR", str(tmp_path))
    assert ui.checkpoints() == ["lenet5-classic.safetensors"]  # the picker's list


def test_a_candidate_judged_no_digit_scores_lower():
    image, probs = np.zeros((28, 28), np.uint8), np.full(10, 0.1)
    sure = Candidate(0, 1, (0, 0, 5, 5), 3, 0.9, 0.0, image, probs)
    doubted = Candidate(0, 1, (0, 0, 5, 5), 3, 0.9, 0.0, image, probs, none=0.75)
    assert doubted.score == pytest.approx(sure.score + np.log(0.25))


def has_mnist() -> bool:
    return any((MNIST_DIR / f"train-images-idx3-ubyte{ext}").exists() for ext in ("", ".gz"))


@pytest.mark.skipif(
    not (has_mnist() and CLASSIC.is_file()),
    reason="MNIST not in data/mnist (python -m lenet.data download) or no classic checkpoint",
)
def test_the_command_trains_a_scorer_on_a_few_rows(tmp_path):
    out = tmp_path / "scorer.safetensors"
    args = ["--data", str(MNIST_DIR), "--rows", "12", "--digits", "50", "--epochs", "1"]
    assert segments.main([*args, "--start", str(CLASSIC), "--out", str(out)]) == 0
    card = read_card(out)
    assert card["training"]["rows"] == 12 and "--rows 12" in card["command"]
    assert 0 <= card["test_digits"]["accuracy"] <= 1
    assert load_scorer(out)(to_tensor(np.zeros((1, 28, 28), np.uint8))).shape == (1, 11)


@pytest.mark.skipif(not (SCORER.is_file() and CLASSIC.is_file()), reason="no shipped scorer")
@pytest.mark.parametrize("pair", [(2, 3), (0, 4), (1, 2), (3, 4)])
def test_the_shipped_scorer_reads_touching_pairs(pair):
    model, scorer = load_checkpoint(CLASSIC), load_scorer(SCORER)
    canvas, _ = strip(list(pair), gap=-6)
    assert read_number(canvas, model, scorer).digits == "".join(map(str, pair))
    canvas, _ = strip([7, 2, 0, 4, 1, 3], gap=30)
    assert read_number(canvas, model, scorer).digits == "720413"
