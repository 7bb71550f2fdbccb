"""The model-card page: the shipped checkpoints' numbers as their cards say, the paper's next
to them, the mistakes gallery, and clear messages when a checkpoint or its card is missing.

Most tests point the app at a temporary models/ folder holding small untrained checkpoints
with made-up cards (the real ones may still be training), plus a made-up MNIST sample."""

from __future__ import annotations

import numpy as np
import pytest

import lenet.checkpoint
import lenet.sample
import lenet.ui
from lenet import cards
from lenet.checkpoint import read_card, save_checkpoint
from lenet.evaluate import predict as predict_classes
from lenet.i18n import translate
from lenet.inference import predict
from lenet.model import build_model
from lenet.sample import Sample
from lenet_testkit.apptest import run_page, texts

PAGE = "pages/model_card.py"
REAL_MODELS = lenet.checkpoint.SHIPPED_MODELS_DIR


def made_up_card(variant: str, accuracy: float, **extra) -> dict:
    rng = np.random.default_rng(0)
    confusion = np.diag(rng.integers(900, 1100, 10)) + rng.integers(0, 3, (10, 10))
    return {
        "variant": variant,
        "command": f"python -m lenet.train --variant {variant}",
        "hyperparameters": {"epochs": 3, "batch_size": 64, "lr": 0.01, "augment": False},
        "seed": 0,
        "dry_run": False,
        "dataset": {"name": "MNIST", "sha256": {"t10k-images-idx3-ubyte": "ab" * 32}},
        "test_accuracy": accuracy,
        "test_images": 10000,
        "misclassified": round((1 - accuracy) * 10000),
        "per_class_accuracy": list(np.linspace(0.97, 0.999, 10)),
        "confusion_matrix": confusion.tolist(),
        "epochs_trained": 3,
        "history": [
            {"epoch": e, "train_loss": 1 / e, "test_accuracy": accuracy - 0.01 / e}
            for e in (1, 2, 3)
        ],
        "train_seconds": 125.4,
        "device": "cpu",
        "versions": {"python": "3.11", "torch": "2.x", "numpy": "2.x"},
        **extra,
    }


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A models/ folder: classic with a full card, modern without a card, lecun1998 broken."""
    folder = tmp_path / "models"
    folder.mkdir()
    save_checkpoint(
        build_model("classic"),
        folder / "lenet5-classic.safetensors",
        made_up_card("classic", 0.9876),
    )
    save_checkpoint(build_model("modern"), folder / "lenet5-modern.safetensors")  # card {}
    (folder / "lenet5-lecun1998.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setenv("LENET_MODELS_DIR", str(folder))
    lenet.ui.card_of.clear()
    lenet.ui._load.clear()
    yield folder
    lenet.ui.card_of.clear()
    lenet.ui._load.clear()


@pytest.fixture
def sample(tmp_path, monkeypatch) -> Sample:
    """A made-up shipped sample: 20 noisy images with labels."""
    rng = np.random.default_rng(1)
    arrays = {
        "images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "labels": rng.integers(0, 10, 20).astype(np.uint8),
        "indices": np.arange(100, 120, dtype=np.int32),
        "hard": np.zeros(20, bool),
    }
    path = tmp_path / "mnist-sample.npz"
    np.savez(path, **arrays)
    monkeypatch.setattr(lenet.sample, "sample_path", lambda: path)
    lenet.ui._sample.clear()
    yield lenet.sample.read_sample(path)
    lenet.ui._sample.clear()


def comparison_table(at):
    return at.table[0].value


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


# --- the real models/ folder ------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_runs_with_the_shipped_checkpoints(lang):
    at = run_page(PAGE, lang)
    no_exception(at)
    assert at.title[0].value == translate("model_card.title", lang)
    table = comparison_table(at)
    assert table.iloc[0, 0] == f"{cards.PAPER_TEST_ERROR:.2%}" == "0.95%"
    assert table.iloc[1, 0] == f"{cards.PAPER_TEST_ERROR_DISTORTED:.2%}" == "0.80%"


def test_each_shipped_checkpoint_shows_the_accuracy_of_its_card():
    names = lenet.ui.checkpoints()
    if not names:
        pytest.skip("no checkpoint in models/ yet (python -m lenet.train --variant classic)")
    at = run_page(PAGE, "en")
    table = comparison_table(at)
    sources = list(table.iloc[:, 2])
    for name in names:
        card = read_card(REAL_MODELS / name)
        row = table.iloc[sources.index(name)]
        assert row.iloc[0] == f"{1 - card['test_accuracy']:.2%}"
        assert row.iloc[1] == f"{card['test_accuracy']:.2%}"
        at.selectbox(key="model_card_checkpoint").set_value(name).run()
        no_exception(at)
        metrics = {m.label: m.value for m in at.metric}
        assert (
            metrics[translate("model_card.metric_accuracy", "en")] == f"{card['test_accuracy']:.2%}"
        )
        assert st_code(at) == card["command"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_training_commands_descriptions_are_in_the_pages_language(lang):
    """The card holds the optimiser, loss and prototypes as the training command's English
    prose; the page shows them from its catalogue (lecun1998 has all three)."""
    name = "lenet5-lecun1998.safetensors"
    if name not in lenet.ui.checkpoints():
        pytest.skip("models/lenet5-lecun1998.safetensors not trained yet")
    card = read_card(REAL_MODELS / name)
    at = run_page(PAGE, lang)
    at.selectbox(key="model_card_checkpoint").set_value(name).run()
    no_exception(at)
    settings = at.table[1].value
    optimiser = settings.loc[translate("model_card.hp.optimizer", lang)].iloc[0]
    loss = settings.loc[translate("model_card.hp.loss", lang)].iloc[0]
    assert optimiser == translate("model_card.text.optimizer", lang)
    assert loss == translate("model_card.text.loss_rbf", lang, temperature="8")
    key = cards.described(card["prototypes"])[0]  # the paper's bitmaps or a seeded code
    assert key == "model_card.text.prototypes_paper"  # lecun1998 is shipped with the bitmaps
    prototypes = translate(key, lang)
    assert translate("model_card.prototypes", lang, text=prototypes) in texts(at)
    if lang == "zh":  # none of the English prose is left
        shown = texts(at) + settings.to_string()
        for english in (
            card["hyperparameters"]["optimizer"],
            card["hyperparameters"]["loss"],
            card["prototypes"],
        ):  # legacy cards hold English prose, newer ones a structured value with a kind
            raw = english if isinstance(english, str) else english["kind"]
            assert raw not in shown


def st_code(at) -> str:
    return at.code[0].value


# --- a made-up models/ folder -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_full_card_is_shown(models, lang):
    at = run_page(PAGE, lang, checkpoint="lenet5-classic.safetensors")
    no_exception(at)
    card = read_card(models / "lenet5-classic.safetensors")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[translate("model_card.metric_accuracy", lang)] == "98.76%"
    assert metrics[translate("model_card.metric_error", lang)] == "1.24%"
    assert metrics[translate("model_card.metric_misclassified", lang)] == translate(
        "model_card.of", lang, part=124, total=10000
    )
    assert metrics[translate("model_card.metric_time", lang)] == translate(
        "model_card.duration", lang, m=2, s=5
    )
    charts = {c.proto.id for c in at.get("plotly_chart")}
    for key in ("compare", "per_class", "confusion", "loss", "accuracy"):
        assert any(f"model_card_{key}" in c for c in charts), key
    assert st_code(at) == card["command"]
    settings = at.table[1].value
    assert settings.loc[translate("model_card.hp.lr", lang)].iloc[0] == "0.01"
    assert settings.loc[translate("model_card.hp.augment", lang)].iloc[0] == "✗"
    assert settings.loc[translate("model_card.seed", lang)].iloc[0] == "0"
    # the data checksums, in `sha256sum` format (wrapped code, not a sideways-scrolling table)
    assert at.code[1].value == f"{'ab' * 32}  t10k-images-idx3-ubyte"


def test_comparison_lists_what_exists(models):
    at = run_page(PAGE, "en")
    table = comparison_table(at)
    rows = dict(zip(table.iloc[:, 2], table.iloc[:, 0], strict=True))
    assert rows["lenet5-classic.safetensors"] == "1.24%"
    no_card = translate("model_card.no_card_short", "en")
    assert rows["lenet5-modern.safetensors"] == rows["lenet5-lecun1998.safetensors"] == no_card
    assert list(table.index[:2]) == [
        translate("model_card.source_paper", "en"),
        translate("model_card.source_paper_distorted", "en"),
    ]


@pytest.mark.parametrize("name", ["lenet5-modern.safetensors", "lenet5-lecun1998.safetensors"])
def test_checkpoint_without_a_readable_card_gives_a_message(models, name):
    at = run_page(PAGE, "zh")
    at.selectbox(key="model_card_checkpoint").set_value(name).run()
    no_exception(at)
    assert [e.value for e in at.error] == [translate("model_card.no_card", "zh", name=name)]
    assert not at.metric
    assert len(comparison_table(at)) == 5  # the rest of the page still works


def test_only_some_checkpoints(models):
    (models / "lenet5-modern.safetensors").unlink()
    (models / "lenet5-lecun1998.safetensors").unlink()
    at = run_page(PAGE, "en")
    no_exception(at)
    assert len(comparison_table(at)) == 3
    assert translate("model_card.missing", "en", variants="modern, lecun1998") in texts(at)


def test_no_checkpoint_at_all(models):
    for path in models.iterdir():
        path.unlink()
    at = run_page(PAGE, "en")
    no_exception(at)
    assert len(comparison_table(at)) == 2  # the paper's results
    assert translate("common.no_checkpoints", "en") in [w.value for w in at.warning]


def test_dry_run_and_malformed_fields_do_not_break_the_page(models):
    card = made_up_card("classic", 0.5, dry_run=True, confusion_matrix=[[1, 2]], history="x")
    save_checkpoint(build_model("classic"), models / "lenet5-classic.safetensors", card)
    lenet.ui.card_of.clear()
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    no_exception(at)
    assert translate("model_card.dry_run", "en") in [w.value for w in at.warning]
    charts = " ".join(c.proto.id for c in at.get("plotly_chart"))
    assert "model_card_per_class" in charts
    assert "model_card_confusion" not in charts and "model_card_loss" not in charts


# --- the gallery of mistakes ------------------------------------------------------------------


def test_gallery_shows_what_the_network_gets_wrong(models, sample):
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    no_exception(at)
    model = lenet.ui.model_for("lenet5-classic.safetensors")
    said = predict_classes(model, sample.images)
    wrong = np.flatnonzero(said != sample.labels)
    assert 0 < len(wrong) <= cards.GALLERY_SIZE
    expected = {
        translate(
            "model_card.mistake",
            "en",
            index=int(sample.indices[i]),
            label=int(sample.labels[i]),
            predicted=int(said[i]),
            confidence=predict(model, sample.images[i]).confidence,
        )
        for i in wrong
    }
    shown = [c for image in at.image for c in image.captions]
    assert len(shown) == len(wrong)
    assert set(shown) == expected
    caption = translate(
        "model_card.gallery_caption", "en", wrong=len(wrong), total=20, shown=len(wrong)
    )
    assert caption in texts(at)


def test_gallery_messages(models, monkeypatch, tmp_path):
    monkeypatch.setattr(lenet.sample, "sample_path", lambda: tmp_path / "missing.npz")
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    assert translate("model_card.sample_missing", "en") in [i.value for i in at.info]


def test_gallery_for_an_unloadable_checkpoint(models, sample):
    at = run_page(PAGE, "en")
    at.selectbox(key="model_card_checkpoint").set_value("lenet5-lecun1998.safetensors").run()
    no_exception(at)
    message = translate("model_card.model_missing", "en", name="lenet5-lecun1998.safetensors")
    assert message in [w.value for w in at.warning]
    assert not at.image


def test_detail_follows_the_sidebar_and_keeps_its_own_choice(models):
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    picker = at.selectbox(key="model_card_checkpoint")
    assert picker.value == "lenet5-classic.safetensors"  # the sidebar's by default
    picker.set_value("lenet5-modern.safetensors").run()
    at.run()  # the page's own choice survives reruns
    assert at.selectbox(key="model_card_checkpoint").value == "lenet5-modern.safetensors"
    at.session_state["checkpoint"] = "lenet5-lecun1998.safetensors"  # the sidebar changes
    at.run()
    no_exception(at)
    assert at.selectbox(key="model_card_checkpoint").value == "lenet5-lecun1998.safetensors"


def test_back_from_another_page_shows_the_sidebar_checkpoint(models):
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    at.selectbox(key="model_card_checkpoint").set_value("lenet5-modern.safetensors").run()
    at.switch_page("pages/exercises.py").run()
    at.session_state["checkpoint"] = "lenet5-classic.safetensors"
    at.switch_page(PAGE).run()
    no_exception(at)
    assert at.selectbox(key="model_card_checkpoint").value == "lenet5-classic.safetensors"


def test_the_drawn_digits_a_network_misreads_are_shown_from_its_card(models, sample):
    from lenet.drawn import CARD_ERROR_IMAGES, card_entry

    model = build_model("classic")  # untrained: it misreads most drawn digits
    drawn = card_entry(model, "dev", per_glyph=1)
    assert len(drawn["errors"]) > CARD_ERROR_IMAGES
    save_checkpoint(
        model,
        models / "lenet5-classic.safetensors",
        made_up_card("classic", 0.9876, drawn=drawn),
    )
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    no_exception(at)
    pens = {p: translate(f"model_card.pen_{p}", "en") for p in ("thin", "default", "thick")}
    expected = [
        translate(
            "model_card.drawn_mistake", "en", source=e["source"], pen=pens[e["pen"]],
            label=e["digit"], predicted=e["predicted"],
        )
        for e in drawn["errors"][:CARD_ERROR_IMAGES]
    ]  # fmt: skip
    shown = [c for image in at.image for c in image.captions]
    # the gallery's columns are read column by column: the same captions, in another order
    assert sorted(c for c in shown if c in expected) == sorted(expected)
    listed = ", ".join(f"{pens[p]} {a:.1%}" for p, a in drawn["by_pen"].items())
    caption = translate(
        "model_card.drawn_caption", "en", accuracy=drawn["accuracy"], samples=drawn["samples"],
        split="dev", pens=listed, wrong=len(drawn["errors"]), shown=CARD_ERROR_IMAGES,
    )  # fmt: skip
    assert caption in texts(at)
    # a card whose drawn entry is malformed shows no drawn gallery and no error
    card = made_up_card("classic", 0.9876, drawn={"accuracy": "high", "errors": 3})
    save_checkpoint(model, models / "lenet5-classic.safetensors", card)
    lenet.ui.card_of.clear()
    at = run_page(PAGE, "en", checkpoint="lenet5-classic.safetensors")
    no_exception(at)
    assert translate("model_card.drawn_title", "en") not in texts(at)


def test_the_shipped_cards_give_their_drawn_digit_accuracy_per_pen():
    for name in lenet.ui.checkpoints():
        drawn = cards.drawn(read_card(REAL_MODELS / name))
        assert drawn is not None, f"{name}'s card has no drawn-digit accuracy"
        assert drawn.split == "eval" and set(drawn.by_pen) == {"thin", "default", "thick"}
        assert drawn.accuracy >= 0.99, f"{name}: {drawn.accuracy:.1%} on drawn digits"
