"""lenet.cards: model cards read defensively, the comparison with the paper, the mistakes
gallery against lenet.evaluate / lenet.inference; and the two figure builders it feeds."""

import numpy as np
import pytest

from lenet import cards, viz
from lenet.evaluate import predict as predict_classes
from lenet.inference import predict
from lenet.model import build_model

CARD = {
    "variant": "modern",
    "test_accuracy": 0.9944,
    "test_images": 10000,
    "misclassified": 56,
    "per_class_accuracy": [0.99] * 10,
    "confusion_matrix": (np.eye(10, dtype=int) * 1000).tolist(),
    "history": [
        {"epoch": 1, "train_loss": 0.5, "test_accuracy": 0.98},
        {"epoch": 2, "train_loss": 0.2, "test_accuracy": 0.99},
    ],
    "hyperparameters": {
        "lr": 0.003,
        "weight_decay": 0.0001,
        "epochs": 20,
        "augment": True,
        "extra": "x",
        "tiny": 1e-6,
    },
    "dataset": {"name": "MNIST", "sha256": {"b": "22", "a": "11"}},
    "versions": {"python": "3.11.7", "torch": "2.13.0"},
    "seed": 0,
    "device": "cpu",
    "train_seconds": 175.5,
}


def test_paper_constants():
    assert cards.PAPER_TEST_ERROR == 0.0095
    assert cards.PAPER_TEST_ERROR_DISTORTED == 0.008


def test_accuracy():
    acc = cards.accuracy(CARD)
    assert (acc.accuracy, acc.test_images, acc.misclassified) == (0.9944, 10000, 56)
    assert acc.error == pytest.approx(0.0056)
    assert cards.accuracy({"test_accuracy": 0.9}).test_images is None
    for bad in (
        None,
        {},
        {"test_accuracy": "99%"},
        {"test_accuracy": 1.5},
        {"test_accuracy": float("nan")},
        {"test_accuracy": True},
        [],
    ):
        assert cards.accuracy(bad) is None


def test_per_class_and_confusion_are_checked():
    assert cards.per_class_accuracy(CARD).shape == (10,)
    assert cards.confusion_matrix(CARD).dtype == np.int64
    for bad in ([0.9] * 9, [2.0] * 10, "x", None):
        assert cards.per_class_accuracy({"per_class_accuracy": bad}) is None
    for bad in ([[1, 2]], np.full((10, 10), -1).tolist(), np.full((10, 10), 0.5).tolist(), "x"):
        assert cards.confusion_matrix({"confusion_matrix": bad}) is None
    assert cards.per_class_accuracy(None) is None and cards.confusion_matrix({}) is None


def test_history():
    h = cards.history(CARD)
    assert (h.epochs, h.train_loss, h.test_accuracy) == ([1, 2], [0.5, 0.2], [0.98, 0.99])
    for bad in ("x", [], [{"epoch": 1}], [1, 2], None):
        assert cards.history({"history": bad}) is None


def test_comparison_and_missing_variants():
    table = {"lenet5-modern.safetensors": CARD, "lenet5-classic.safetensors": None}
    # the variants come from each checkpoint's config, not from a card or a file name
    variants = {"lenet5-modern.safetensors": "modern", "lenet5-classic.safetensors": "classic"}
    rows = cards.comparison(table, variants)
    assert [r.source for r in rows] == ["paper", "paper_distorted", "checkpoint", "checkpoint"]
    assert [r.error for r in rows[:2]] == [0.0095, 0.008]
    assert rows[2].variant == "modern" and rows[2].error == pytest.approx(0.0056)
    assert rows[3].variant == "classic" and rows[3].error is None
    assert cards.missing_variants(variants) == ["lecun1998"]
    assert cards.missing_variants({}) == ["classic", "modern", "lecun1998"]


def test_training_tables():
    assert cards.hyperparameters(CARD) == [
        ("epochs", "20"),
        ("lr", "0.003"),
        ("weight_decay", "0.0001"),
        ("augment", "✓"),
        ("extra", "x"),
        ("tiny", "1.0e-06"),
    ]
    assert cards.checksums(CARD) == [("a", "11"), ("b", "22")]
    assert cards.versions(CARD) == [("python", "3.11.7"), ("torch", "2.13.0")]
    assert cards.run_facts(CARD) == [("seed", "0"), ("device", "cpu")]
    assert cards.minutes_seconds(175.5) == (2, 56)
    assert cards.minutes_seconds("soon") is None and cards.minutes_seconds(-1) is None
    for empty in (None, {}, {"hyperparameters": "x", "dataset": 3, "versions": []}):
        assert not cards.hyperparameters(empty) and not cards.checksums(empty)
        assert not cards.versions(empty) and not cards.run_facts(empty)


@pytest.mark.parametrize("variant", ["classic", "lecun1998"])
def test_mistakes_agree_with_evaluate_and_inference(variant):
    model = build_model(variant).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 30)
    found = cards.mistakes(model, images, labels, batch_size=7)
    said = predict_classes(model, images)
    assert sorted(m.index for m in found) == list(np.flatnonzero(said != labels))
    for m in found:
        single = predict(model, images[m.index])
        assert (m.label, m.predicted) == (labels[m.index], said[m.index])
        assert m.confidence == pytest.approx(single.confidence, abs=1e-5)
        assert np.array_equal(m.image, images[m.index])
    confidences = [m.confidence for m in found]
    assert confidences == sorted(confidences, reverse=True)
    assert cards.mistakes(model, images[:0], labels[:0]) == []


def test_bars_and_confusion_figures():
    fig = viz.bars(
        ["a", "b", "c"],
        [0.99, 0.97, 0.995],
        title="T",
        x_label="x",
        y_label="y",
        highlight=[1],
        muted=[0],
        zoom=True,
    )
    bar = fig.data[0]
    assert list(bar.text) == ["99.00%", "97.00%", "99.50%"]
    assert bar.marker.color[0] == "#999999" and bar.marker.color[1] == viz.HIGHLIGHT
    low, high = fig.layout.yaxis.range
    assert 0.9 < low < 0.97 and high > 0.995
    assert viz.bars(["a"], [0.5], title="T", x_label="x", y_label="y").layout.yaxis.range[0] == 0
    counts = np.array([[5, 0], [1, 7]])
    fig = viz.confusion(counts, title="C", x_label="pred", y_label="true", count_label="n")
    heat = fig.data[0]
    assert [list(r) for r in heat.text] == [["5", ""], ["1", "7"]]
    assert np.allclose(heat.z, np.log1p(counts))
    assert "pred" in heat.hovertemplate and "true" in heat.hovertemplate


def test_described_knows_what_the_training_command_writes():
    from types import SimpleNamespace

    from lenet.train import make_card

    for variant in ("classic", "lecun1998"):
        model = build_model(variant)
        args = SimpleNamespace(
            variant=variant,
            argv=[],
            epochs=1,
            batch_size=8,
            lr=0.1,
            weight_decay=0.0,
            label_smoothing=0.0,
            augment=False,
            seed=0,
            dry_run=True,
        )
        card = make_card(args, model, {}, [], 1.0, "00")
        texts = [card["hyperparameters"]["optimizer"], card["hyperparameters"]["loss"]]
        texts += [card["prototypes"]] if card["prototypes"] else []
        keys = [cards.described(text) for text in texts]
        assert None not in keys, texts
        expected = ["model_card.text.optimizer"]
        expected += (
            ["model_card.text.loss_rbf", "model_card.text.prototypes_paper"]
            if variant == "lecun1998"
            else ["model_card.text.loss_softmax"]
        )
        assert [key for key, _ in keys] == expected
    assert cards.described(cards.loss_rbf(2.5)) == (
        "model_card.text.loss_rbf",
        {"temperature": "2.5"},
    )


@pytest.mark.parametrize(
    "text",
    [
        "Adam",
        "",
        "cross-entropy over the negative RBF distances / x (nothing)",
        "cross-entropy over the negative RBF distances / nan (the paper's MAP criterion without "
        "its rubbish-class term, at a temperature)",
    ],
)
def test_other_descriptions_are_shown_as_written(text):
    assert cards.described(text) is None


def test_older_cards_sentences_are_read_as_the_structured_fields():
    """The shipped cards were written with English sentences: read as the same fields."""
    for sentence, fields in cards.LEGACY_TEXT.items():
        assert cards.described(sentence) == cards.described(fields) is not None
    for bad in (
        {"kind": "rbf-cross-entropy", "temperature": float("nan")},
        {"kind": "rbf-cross-entropy"},
        {"kind": "sgd?"},
        {},
        3,
    ):
        assert cards.described(bad) is None
