"""lenet.explain on the shipped networks and real MNIST test digits (the shipped sample):
saliency against autograd and finite differences, occlusion against one forward pass per
position, fooling within epsilon, the smallest epsilon's bisection, bad arguments, and the
shared model left untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet import explain as ex
from lenet.checkpoint import load_checkpoint, models_dir
from lenet.inference import predict
from lenet.preprocess import PAD, to_tensor
from lenet.sample import read_sample

VARIANTS = ("classic", "modern", "lecun1998")


@pytest.fixture(scope="module")
def models():
    return {v: load_checkpoint(models_dir() / f"lenet5-{v}.safetensors") for v in VARIANTS}


@pytest.fixture(scope="module")
def sample():
    s = read_sample()
    if s is None:
        pytest.skip("models/mnist-sample.npz is missing: make sample")
    return s


@pytest.fixture(scope="module")
def digits(sample):
    """Three real test digits of different classes."""
    return [sample.images[i] for i in sample.random[[0, 100, 200]]]


@pytest.mark.parametrize("variant", VARIANTS)
def test_saliency_is_autograd_of_the_class_logit(models, digits, variant):
    model = models[variant]
    for image in digits:
        for target in (predict(model, image).digit, 4):
            x = to_tensor(image).requires_grad_(True)  # (1, 1, 32, 32): the padded input
            (grad,) = torch.autograd.grad(model(x)[0, target], x)
            expected = grad[0, 0, PAD:-PAD, PAD:-PAD].numpy()
            got = ex.saliency(model, image, target)
            assert got.shape == (28, 28)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            assert np.abs(got).max() > 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_saliency_agrees_with_finite_differences(models, digits, variant):
    model64 = copy.deepcopy(models[variant]).double()  # a copy: the shared model is float32
    image = digits[0]
    target = predict(models[variant], image).digit
    grad = ex.saliency(models[variant], image, target)
    x = torch.from_numpy(image / 255.0)

    def logit(x28: torch.Tensor) -> float:
        with torch.inference_mode():
            return float(model64(F.pad(x28[None, None], (PAD,) * 4))[0, target])

    # Ink pixels: on the blank background, modern's max pooling sees ties between equal
    # values, where the function has a kink and a one-sided difference is not the gradient.
    ink = np.flatnonzero(image.ravel() > 0)
    order = ink[np.argsort(np.abs(grad).ravel()[ink])[::-1]]
    for flat in [*order[:4], order[len(order) // 2]]:  # the strongest ink pixels, a weaker one
        r, c = divmod(int(flat), 28)
        h = 1e-6
        plus, minus = x.clone(), x.clone()
        plus[r, c] += h
        minus[r, c] -= h
        numeric = (logit(plus) - logit(minus)) / (2 * h)
        assert numeric == pytest.approx(grad[r, c], rel=1e-3, abs=1e-4 * float(np.abs(grad).max()))


def test_gradient_x_input_is_zero_on_the_background(models, digits):
    image = digits[1]
    grad = ex.saliency(models["classic"], image, 3)
    gxi = ex.gradient_x_input(grad, image)
    np.testing.assert_allclose(gxi, grad * image / 255.0, rtol=1e-6)
    assert np.all(gxi[image == 0] == 0) and np.any(grad[image == 0] != 0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_occlusion_is_one_forward_pass_per_position(models, digits, variant):
    model = models[variant]
    image = digits[2]
    probs = ex.occlusion_probabilities(model, image, patch=6, stride=2)
    n = (28 - 6) // 2 + 1
    assert probs.shape == (n, n, 10)
    for r, c in [(0, 0), (n // 2, n // 2), (5, 3), (n - 1, n - 1), (3, 7)]:
        covered = image.copy()
        covered[2 * r : 2 * r + 6, 2 * c : 2 * c + 6] = 0
        np.testing.assert_allclose(probs[r, c], predict(model, covered).probabilities, atol=2e-5)
    target = predict(model, image).digit
    np.testing.assert_array_equal(ex.occlusion(model, image, target, 6, 2), probs[..., target])


@pytest.mark.parametrize("variant", VARIANTS)
def test_occluding_a_blank_corner_changes_nothing(models, digits, variant):
    model = models[variant]
    image = digits[0]
    assert not image[:4, :4].any()  # MNIST digits are centred in a blank border
    target = predict(model, image).digit
    occluded = ex.occlusion(model, image, target, patch=4, stride=1)
    assert occluded.shape == (25, 25)
    assert occluded[0, 0] == pytest.approx(predict(model, image).confidence, abs=1e-6)
    # covering the middle of the digit does change the probability somewhere
    assert occluded.min() < occluded[0, 0] - 1e-3


@pytest.mark.parametrize("patch, stride, n", [(1, 1, 28), (4, 1, 25), (4, 3, 9), (28, 1, 1)])
def test_occlusion_shape(models, digits, patch, stride, n):
    assert ex.occlusion(models["modern"], digits[0], 0, patch, stride).shape == (n, n)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fooling_stays_within_epsilon_and_is_deterministic(models, digits, variant):
    model = models[variant]
    for image, epsilon in zip(digits, (0.05, 0.2, 0.3), strict=True):
        answer = predict(model, image).digit
        target = (answer + 3) % 10
        first = ex.fool(model, image, target, epsilon, 50)
        again = ex.fool(model, image, target, epsilon, 50)
        np.testing.assert_array_equal(first.image, again.image)
        assert (first.success, first.steps) == (again.success, again.steps)
        change = first.image - image / 255.0
        assert np.abs(change).max() <= epsilon + 1e-6
        assert first.image.min() >= 0.0 and first.image.max() <= 1.0
        assert first.probabilities.shape == (first.steps + 1, 10)
        assert first.probabilities[0].argmax() == answer
        fooled_reads = predict(model, np.round(first.image * 255).astype(np.uint8))
        assert first.success == (first.probabilities[-1].argmax() == target)
        if first.success and first.probabilities[-1, target] > 0.6:
            assert fooled_reads.digit == target  # still fooled once rounded to 0..255


@pytest.mark.parametrize("variant", VARIANTS)
def test_fooling_succeeds_on_most_sample_digits_at_epsilon_0_3(models, sample, variant):
    chosen = sample.random
    targets = (sample.labels[chosen].astype(int) + 1) % 10
    images, success = ex.fool_batch(models[variant], sample.images[chosen], targets, 0.3, 50)
    assert success.mean() > 2 / 3, f"{variant}: fooled {success.mean():.0%}"
    assert np.abs(images - sample.images[chosen] / 255.0).max() <= 0.3 + 1e-6


def test_smallest_epsilon_is_a_bisection_bound(models, sample):
    model = models["classic"]
    chosen = ex.search_digits(sample.labels, sample.random, target=8)[::9]
    assert 8 not in sample.labels[chosen]
    found = ex.smallest_epsilon(model, sample.images[chosen], 8, steps=20, rounds=6)
    assert found.shape == (len(chosen),) and np.all(np.isfinite(found))
    _, at = ex.fool_batch(model, sample.images[chosen], 8, found, 20)
    assert at.all()  # it works with the epsilon found...
    below = found - 2.0**-6
    fooled_below = ex.fool_batch(model, sample.images[chosen], 8, np.maximum(below, 1e-3), 20)[1]
    assert not fooled_below[below > 0].any()  # ...and not with one step of the search less
    single = ex.smallest_epsilon(model, sample.images[chosen[0]], 8, steps=20, rounds=6)
    assert single == found[0]


BAD_CALLS = [
    ("target", lambda m, d: ex.saliency(m, d, 10)),
    ("target", lambda m, d: ex.saliency(m, d, -1)),
    ("target", lambda m, d: ex.occlusion(m, d, 2.5)),
    ("target", lambda m, d: ex.fool(m, d, True, 0.1, 5)),
    ("epsilon", lambda m, d: ex.fool(m, d, 3, 0.0, 5)),
    ("epsilon", lambda m, d: ex.fool(m, d, 3, -0.1, 5)),
    ("epsilon", lambda m, d: ex.fool(m, d, 3, 1.01, 5)),
    ("epsilon", lambda m, d: ex.fool(m, d, 3, float("nan"), 5)),
    ("epsilon", lambda m, d: ex.fool(m, d, 3, "a lot", 5)),
    ("steps", lambda m, d: ex.fool(m, d, 3, 0.1, 0)),
    ("steps", lambda m, d: ex.fool(m, d, 3, 0.1, ex.MAX_STEPS + 1)),
    ("patch", lambda m, d: ex.occlusion(m, d, 3, patch=29)),
    ("patch", lambda m, d: ex.occlusion(m, d, 3, patch=0)),
    ("stride", lambda m, d: ex.occlusion(m, d, 3, patch=4, stride=0)),
    ("image_shape", lambda m, d: ex.saliency(m, d[:27], 3)),
    ("image_shape", lambda m, d: ex.occlusion(m, d[None, None], 3)),
    ("image_dtype", lambda m, d: ex.saliency(m, d.astype(np.int64), 3)),
    ("image_dtype", lambda m, d: ex.saliency(m, d.tolist(), 3)),
    ("image_values", lambda m, d: ex.fool(m, np.full((28, 28), np.nan), 3, 0.1, 5)),
    ("image_values", lambda m, d: ex.saliency(m, d.astype(np.float32), 3)),  # 0..255 floats
]


@pytest.mark.parametrize("reason, call", BAD_CALLS)
def test_bad_arguments_raise_a_translatable_value_error(models, digits, reason, call):
    with pytest.raises(ValueError) as caught:
        call(models["classic"], digits[0])
    assert isinstance(caught.value, ex.ExplainInputError)
    assert caught.value.reason == reason and str(caught.value)


def test_the_shared_model_is_left_untouched(models, digits):
    model = models["lecun1998"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ex.saliency(model, digits[0], 1)
    ex.occlusion(model, digits[0], 1)
    ex.fool(model, digits[0], 1, 0.3, 20)
    ex.smallest_epsilon(model, digits[1], 2, steps=5, rounds=2)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_summaries():
    values = np.zeros((5, 5))
    values[1, 3], values[4, 0] = 2.0, -1.0
    assert ex.extremes(values) == ex.Extremes(2.0, (1, 3), -1.0, (4, 0))
    probs = np.zeros((2, 2, 10))
    probs[..., 3] = 1.0
    probs[1, 1] = np.eye(10)[7]
    changes = ex.answer_changes(probs, 3)
    assert changes.count == 1 and changes.most_common == 7 and changes.changed[1, 1]
    assert ex.answer_changes(probs[:1, :1], 3).most_common is None
    image = np.zeros((28, 28), np.uint8)
    fooled = np.zeros((28, 28), np.float32)
    fooled[0, 0] = 0.25
    assert ex.runner_up(np.array([0.1, 0.6, 0.05, 0.25])) == 3
    assert ex.change_size(image, fooled) == pytest.approx((0.25, 0.25 / 784))


def test_occluded_blanks_the_patch_only(digits):
    image = digits[0]
    covered = ex.occluded(image, (10, 12), 5)
    assert covered.dtype == image.dtype and not covered[10:15, 12:17].any()
    untouched = np.ones(image.shape, bool)
    untouched[10:15, 12:17] = False
    np.testing.assert_array_equal(covered[untouched], image[untouched])
    assert image[10:15, 12:17].any()  # the original is not changed
    assert ex.patch_corner((3, 4), 2) == (6, 8)
