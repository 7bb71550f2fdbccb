"""lenet.describe: the sentences that stand in for charts and images (issue 23)."""

from __future__ import annotations

import numpy as np
import pytest

from lenet import describe
from lenet.checkpoint import default_path, load_checkpoint
from lenet.i18n import translate
from lenet.inference import c1_kernels, predict
from lenet.sample import read_sample


def text_in(lang: str):
    return lambda key, **fields: translate(key, lang, **fields)


@pytest.fixture(scope="module")
def real():
    """A real MNIST test digit through the shipped classic checkpoint."""
    sample = read_sample()
    model = load_checkpoint(default_path("classic"))
    return sample, model, predict(model, sample.images[0])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_prediction_sentence_names_the_digit_its_confidence_and_the_runner_up(real, lang):
    _, _, result = real
    sentence = describe.prediction(result.probabilities, text_in(lang))
    order = sorted(range(10), key=lambda d: -result.probabilities[d])
    assert f"{order[0]}" in sentence and f"{result.confidence:.1%}" in sentence
    assert f"{result.probabilities[order[1]]:.1%}" in sentence
    assert order[0] == result.digit


def test_an_empty_chart_says_so():
    assert describe.prediction(np.zeros(10), text_in("en")) == translate(
        "describe.prediction_none", "en"
    )
    with pytest.raises(ValueError):
        describe.prediction(np.ones(9) / 9, text_in("en"))


def test_the_most_and_least_active_maps_are_found(real):
    _, model, result = real
    c1 = result.activations["c1"]
    means = c1.mean(axis=(1, 2))
    sentence = describe.layer("c1", result.activations, c1_kernels(model), text_in("en"))
    assert f"map {int(means.argmax())} (mean {means.max():.2f})" in sentence
    assert f"map {int(means.argmin())} (mean {means.min():.2f})" in sentence
    # Make another map the hottest: the sentence follows.
    hotter = c1.copy()
    k = (int(means.argmax()) + 1) % len(means)
    hotter[k] += 10
    assert f"most active is map {k} " in describe.feature_maps("C1", hotter, text_in("en"))


def test_units_and_kernels(real):
    _, model, result = real
    c5 = result.activations["c5"]
    sentence = describe.layer("c5", result.activations, c1_kernels(model), text_in("en"))
    assert f"unit {int(c5.argmax())} ({c5.max():.2f})" in sentence
    assert f"{int((c5 > 0).sum())} of {c5.size} are positive" in sentence
    weights = c1_kernels(model)
    sentence = describe.layer("kernels", {}, weights, text_in("en"))
    strongest = int(np.abs(weights).sum(axis=(1, 2)).argmax())
    assert f"{weights.min():.2f} to {weights.max():.2f}" in sentence
    assert f"kernel {strongest} " in sentence
    with pytest.raises(ValueError):
        describe.layer("c7", result.activations, weights, text_in("en"))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_preprocessing_image_has_its_own_alternative(real, lang):
    sample, _, _ = real
    steps = sample.steps(0)
    images = (steps.crop, steps.fit20, steps.centred28, steps.padded32)
    alts = [
        describe.step_image(s, im, text_in(lang))
        for s, im in zip(describe.STEPS, images, strict=True)
    ]
    assert len(set(alts)) == 4
    for alt, image in zip(alts, images, strict=True):
        assert f"{image.shape[0]}×{image.shape[1]}" in alt
    with pytest.raises(ValueError):
        describe.step_image("blur", steps.crop, text_in(lang))


def test_a_gallery_digit_says_what_it_is():
    alt = describe.mistake_image(1234, 4, 9, 0.87, text_in("en"))
    assert alt == "Test digit 1234: true 4, read as 9 (87% sure)."


def test_the_model_card_sentences_follow_the_real_card():
    from lenet import cards
    from lenet.checkpoint import read_card

    card = read_card(default_path("classic"))
    text = text_in("en")
    per_class = cards.per_class_accuracy(card)
    sentence = describe.per_class(per_class, text)
    assert f"digit for this network: {int(per_class.argmin())} ({per_class.min():.2%}" in sentence
    matrix = cards.confusion_matrix(card)
    off = matrix - np.diag(np.diag(matrix))
    true, predicted = np.unravel_index(int(off.argmax()), off.shape)
    sentence = describe.confusion(matrix, text)
    assert f"a {true} read as a {predicted}, {int(off.max())} times" in sentence
    assert f"{int(np.trace(matrix)):,} of the {int(matrix.sum()):,}" in sentence
    hist = cards.history(card)
    sentence = describe.accuracy_curve(hist.epochs, hist.test_accuracy, text)
    assert (
        f"{hist.test_accuracy[-1]:.2%}" in sentence and f"{max(hist.test_accuracy):.2%}" in sentence
    )
    assert f"{hist.train_loss[-1]:.3f}" in describe.loss_curve(hist.epochs, hist.train_loss, text)
    assert describe.lowest(["a", "b"], [0.02, 0.01], text) == "Lowest test error: b, 1.00%."
    with pytest.raises(ValueError):
        describe.confusion(np.ones((3, 2)), text)


def test_a_matrix_chart_in_words():
    values = np.array([[1.0, -2.0, 0.5], [3.25, 0.0, 1.0]])
    text = text_in("en")
    said = describe.matrix(values, "Input", text)
    assert said == translate(
        "describe.matrix", "en", title="Input", h=2, w=3, low=-2.0, high=3.25, row=2, col=1
    )
    assert "row 2, column 1" in said  # counted from 1, as a student counts
    with pytest.raises(ValueError):
        describe.matrix(np.zeros(3), "x", text)
