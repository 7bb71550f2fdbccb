"""lenet.invariance: the transforms' geometry checked without the network (against numpy's
rot90, the centre of mass, an independent dilation), sweeps against predict, the class
sweep against a plain evaluation, the equivariance of C1, and every bad value refused."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from lenet import invariance as inv
from lenet import viz
from lenet.checkpoint import default_path, load_checkpoint
from lenet.i18n import translate
from lenet.inference import predict
from lenet.preprocess import shift as shift_pixels
from lenet.preprocess import to_tensor
from lenet.sample import read_sample

VARIANTS = ("classic", "modern", "lecun1998")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread, as the app runs (a second one only waits on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sample():
    s = read_sample()
    assert s is not None, "models/mnist-sample.npz is shipped with the app"
    return s


@pytest.fixture(scope="module")
def digits(sample):
    """Twenty real MNIST test digits (two of each class)."""
    idx = [i for d in range(10) for i in sample.random[sample.labels[sample.random] == d][:2]]
    return sample.images[idx], sample.labels[idx]


@pytest.fixture(scope="module")
def models():
    return {v: load_checkpoint(default_path(v)) for v in VARIANTS}


def translated(err: inv.TransformError) -> None:
    """The page's message for the error exists in both languages and takes its fields."""
    for lang in ("en", "zh"):
        assert translate(f"invariance.error_{err.reason}", lang, **err.fields)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    w = image.astype(np.float64)
    rows, cols = np.indices(w.shape)
    return float((rows * w).sum() / w.sum()), float((cols * w).sum() / w.sum())


def spread(image: np.ndarray) -> tuple[float, float]:
    """Standard deviation of the ink along the rows (vertical) and the columns."""
    w = image.astype(np.float64) / image.sum()
    rows, cols = np.indices(image.shape)
    r, c = (rows * w).sum(), (cols * w).sum()
    return math.sqrt(((rows - r) ** 2 * w).sum()), math.sqrt(((cols - c) ** 2 * w).sum())


# --- geometry, without the network ----------------------------------------------------------


def test_neutral_returns_the_image_unchanged(digits):
    for image in digits[0]:
        out = inv.transform(image)
        assert out.dtype == np.uint8 and out.shape == (28, 28)
        assert np.array_equal(out, image) and out is not image
        for name, spec in inv.TRANSFORMS.items():
            assert np.array_equal(
                inv.transform(image, **inv.settings_for(name, spec.neutral)), image
            )


def test_shift_moves_the_centre_of_mass(digits):
    for image in digits[0]:
        r0, c0 = centre_of_mass(image)
        r1, c1 = centre_of_mass(inv.transform(image, shift=(0, 3)))
        assert c1 == pytest.approx(c0 + 3, abs=1e-9) and r1 == pytest.approx(r0, abs=1e-9)
        r2, c2 = centre_of_mass(inv.transform(image, shift=(-2, 0)))
        assert r2 == pytest.approx(r0 - 2, abs=1e-9) and c2 == pytest.approx(c0, abs=1e-9)


def test_quarter_turns_are_numpy_rot90(digits):
    for image in digits[0]:
        assert np.array_equal(inv.transform(image, rotate=90), np.rot90(image))  # counter-clockwise
        assert np.array_equal(inv.transform(image, rotate=-90), np.rot90(image, -1))


def test_rotating_a_one_by_90_degrees_lays_it_flat(sample):
    ones = sample.images[sample.random[sample.labels[sample.random] == 1][:5]]
    for one in ones:
        tall, wide = spread(one)
        assert tall > 2 * wide  # a 1 stands upright
        flat_tall, flat_wide = spread(inv.transform(one, rotate=90))
        assert flat_wide > 2 * flat_tall


def test_rotation_is_counter_clockwise():
    image = np.zeros((28, 28), np.uint8)
    image[13:15, 20:26] = 255  # a bar right of the centre
    r, c = centre_of_mass(inv.transform(image, rotate=45))
    assert r < 13.5 and c > 13.5  # up and to the right: counter-clockwise on screen


def test_scale_squeeze_and_shear(digits):
    image = digits[0][0]
    tall, wide = spread(image)
    half_tall, half_wide = spread(inv.transform(image, scale=0.5))
    assert half_tall == pytest.approx(tall / 2, rel=0.15) and half_wide == pytest.approx(
        wide / 2, rel=0.2
    )
    sq_tall, sq_wide = spread(inv.transform(image, squeeze=0.5))
    assert sq_tall == pytest.approx(tall, rel=0.05) and sq_wide == pytest.approx(wide / 2, rel=0.2)
    bar = np.zeros((28, 28), np.uint8)
    bar[4:24, 13:15] = 255  # an upright bar: a positive shear leans its top to the right
    sheared = inv.transform(bar, shear=0.5)
    assert centre_of_mass(sheared[4:9])[1] > 16 > 11 > centre_of_mass(sheared[19:24])[1]


def dilate3(image: np.ndarray) -> np.ndarray:
    """Grey-level dilation with a 3x3 square, written independently with shifts."""
    return np.max([shift_pixels(image, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


def test_stroke_adds_and_removes_ink(digits):
    for image in digits[0]:
        thick, thin = inv.transform(image, stroke=1), inv.transform(image, stroke=-1)
        assert np.array_equal(thick, dilate3(image))
        assert (thick >= image).all() and thick.sum() > image.sum()
        assert (thin <= image).all() and thin.sum() < image.sum()
        assert np.array_equal(inv.transform(image, stroke=2), dilate3(dilate3(image)))
        # erosion is dilation of the background
        assert np.array_equal(thin, 255 - dilate3(255 - image))


def test_noise_is_seeded(digits):
    image = digits[0][3]
    a = inv.transform(image, noise=0.1, gaussian=0.1, seed=1)
    assert np.array_equal(a, inv.transform(image, noise=0.1, gaussian=0.1, seed=1))
    assert not np.array_equal(a, inv.transform(image, noise=0.1, gaussian=0.1, seed=2))
    assert not np.array_equal(a, image)


def test_salt_and_pepper_hits_the_fraction_asked(digits):
    image = digits[0][5]
    for fraction in (0.05, 0.2, 0.5):
        out = inv.transform(image, noise=fraction, seed=4)
        order, _, _ = inv.noise_pattern(4)
        hit = order < fraction
        assert set(np.unique(out[hit])) <= {0, 255}
        assert np.array_equal(out[~hit], image[~hit])
        assert hit.mean() == pytest.approx(fraction, abs=0.05)


def test_gaussian_noise_has_the_std_asked():
    blank = np.full((28, 28), 128, np.uint8)
    out = inv.transform(blank, gaussian=0.1, seed=0).astype(np.float64)
    assert (out - 128).std() == pytest.approx(25.5, rel=0.15)


def test_occlusion_blanks_exactly_the_box(digits):
    image = digits[0][7]
    out = inv.transform(image, occlude=(8, 6, 5, 10))
    assert (out[8:13, 6:16] == 0).all()
    mask = np.ones_like(image, bool)
    mask[8:13, 6:16] = False
    assert np.array_equal(out[mask], image[mask])


# --- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"rotate": float("nan")}, "not_finite"),
        ({"scale": float("inf")}, "not_finite"),
        ({"rotate": 91}, "out_of_range"),
        ({"scale": 0.0}, "out_of_range"),
        ({"noise": -0.1}, "out_of_range"),
        ({"shift": (0, 1.5)}, "not_integer"),
        ({"shift": (0, 11)}, "out_of_range"),
        ({"shift": 3}, "shift"),
        ({"stroke": 0.5}, "not_integer"),
        ({"shear": "lots"}, "not_number"),
        ({"occlude": (27, 27, 0, 3)}, "box"),
        ({"occlude": (0, 0, 30, 3)}, "box"),
        ({"occlude": (-1, 0, 3, 3)}, "box"),
        ({"occlude": "box"}, "box"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_values_raise_a_translatable_error(digits, kwargs, reason):
    with pytest.raises(ValueError) as err:
        inv.transform(digits[0][0], **kwargs)
    assert isinstance(err.value, inv.TransformError) and err.value.reason == reason
    translated(err.value)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((28, 28), np.float32),
        np.zeros((32, 32), np.uint8),
        np.zeros((1, 28, 28), np.uint8),
        [[0] * 28] * 28,
        None,
    ],
)
def test_bad_images_raise(image):
    with pytest.raises(inv.TransformError) as err:
        inv.transform(image)
    assert err.value.reason == "image"
    translated(err.value)


def test_bad_sweeps_raise(models, digits):
    model, image = models["classic"], digits[0][0]
    for name, values, reason in [
        ("spin", [0], "unknown"),
        ("rotate", [], "values"),
        ("rotate", [[0, 1]], "values"),
        ("rotate", np.zeros(inv.MAX_SWEEP_POINTS + 1), "values"),
        ("rotate", [0, float("nan")], "not_finite"),
        ("rotate", [0, 200], "out_of_range"),
        ("rotate", ["a"], "values"),
    ]:
        with pytest.raises(inv.TransformError) as err:
            inv.sweep(model, image, name, values)
        assert err.value.reason == reason, (name, values)
        translated(err.value)


# --- sweeps ---------------------------------------------------------------------------------


def test_sweep_at_the_neutral_value_equals_predict(models, digits):
    for model in models.values():
        for image in digits[0][7:8]:
            for name, spec in inv.TRANSFORMS.items():
                values = spec.values()
                probs = inv.sweep(model, image, name, values)
                assert probs.shape == (len(values), 10)
                i = int(np.flatnonzero(values == spec.neutral)[0])
                expected = predict(model, image).probabilities
                np.testing.assert_allclose(probs[i], expected, atol=1e-6)


def test_sweep_is_one_batched_forward_pass(digits):
    model = load_checkpoint(default_path("classic"))  # our own copy
    calls = []
    model.c1.register_forward_hook(lambda module, args, out: calls.append(out.shape[0]))
    values = inv.TRANSFORMS["rotate"].values()
    probs = inv.sweep(model, digits[0][0], "rotate", values)
    assert calls == [len(values)] == [41]
    for k in (0, 13, 40):  # each row is that value's own prediction
        moved = inv.transform(digits[0][0], rotate=values[k])
        np.testing.assert_allclose(probs[k], predict(model, moved).probabilities, atol=1e-6)


def test_kept_range_is_the_run_around_the_neutral_value():
    values = np.array([-20.0, -10, 0, 10, 20, 30])
    winners = [1, 7, 7, 7, 1, 7]
    probs = np.eye(10)[winners]
    kept = inv.kept_range("rotate", values, probs)
    assert (kept.digit, kept.low, kept.high, kept.whole) == (7, -10, 10, False)
    assert inv.kept_range("rotate", values, np.eye(10)[[3] * 6]).whole


def test_kept_range_of_a_real_digit_holds_its_answer(models, digits):
    image = digits[0][14]
    values = inv.TRANSFORMS["rotate"].values()
    kept = inv.kept_range("rotate", values, inv.sweep(models["modern"], image, "rotate", values))
    assert kept.digit == predict(models["modern"], image).digit
    for v in (kept.low, kept.high):
        assert predict(models["modern"], inv.transform(image, rotate=v)).digit == kept.digit


def test_class_sweep_equals_a_plain_evaluation(models, digits):
    images, labels = digits
    values = [-4.0, 0.0, 3.0]
    acc = inv.class_sweep(models, images, labels, "shift_cols", values)
    assert set(acc) == set(VARIANTS)
    for name, model in models.items():
        for k, v in enumerate(values):
            moved = np.stack([inv.transform(im, shift=(0, v)) for im in images])
            with torch.inference_mode():
                guesses = model(to_tensor(moved)).argmax(1).numpy()
            assert acc[name][k] == pytest.approx((guesses == labels).mean())
    summary = inv.accuracy_summary("shift_cols", values, acc["classic"])
    assert summary.at_neutral == acc["classic"][1] and summary.lowest == min(acc["classic"])


def test_values_and_formatting():
    assert list(inv.TRANSFORMS["shift_cols"].values()) == list(range(-10, 11))
    assert len(inv.TRANSFORMS["rotate"].values()) == 41
    assert inv.TRANSFORMS["rotate"].values()[[0, -1]].tolist() == [-90, 90]
    assert inv.format_value("rotate", -35) == "\u221235°"
    assert inv.format_value("rotate", 40) == "+40°"
    assert inv.format_value("shift_rows", 3) == "+3 px"
    assert inv.format_value("scale", 0.75) == "0.75×"
    assert inv.format_value("noise", 0.12) == "12%"


# --- equivariance -----------------------------------------------------------------------------


def test_c1_is_equivariant_to_shifts(models, digits):
    whole = [im for im in digits[0] if inv.transform(im, shift=(2, -3)).sum() == im.sum()]
    assert len(whole) >= 5  # digits whose ink all stays in the field
    for model in models.values():
        for image in whole[:3]:
            e = inv.equivariance(model, image, (2, -3))
            assert e.ink_kept == 1.0
            assert e.correlation > 0.999999 and e.relative_error < 1e-5
            # independently: C1 of the shifted digit, cropped to the cells both define
            c1 = predict(model, inv.transform(image, shift=(2, -3))).activations["c1"]
            moved = shift_pixels(predict(model, image).activations["c1"], 2, -3)
            np.testing.assert_allclose(c1[:, 2:, :-3], moved[:, 2:, :-3], atol=1e-5)
            assert set(e.relative_change) == set(inv.LAYERS)
            assert e.relative_change["c1"] > 0.1  # C1 itself moved: not invariant


def test_no_shift_changes_nothing_and_lost_ink_is_reported(models, digits):
    e = inv.equivariance(models["classic"], digits[0][0], (0, 0))
    assert all(v < 1e-6 for v in e.relative_change.values()) and e.relative_error < 1e-6
    far = inv.equivariance(models["classic"], digits[0][0], (0, 10))
    assert far.ink_kept < 1.0


# --- the feature-map image ----------------------------------------------------------------


def test_maps_png_is_one_grid_image_on_a_shared_scale():
    maps = np.zeros((6, 28, 28), np.float32)
    maps[4, 3, 5] = 2.0  # the most active map
    maps[1] = -1.0
    png = viz.maps_png(maps, cols=3, scale=2)
    image = np.asarray(Image.open(io.BytesIO(png)))
    assert image.shape == ((2 * 28 + 1) * 2, (3 * 28 + 2) * 2, 3)
    lut = viz._lut(viz.SEQUENTIAL)
    top, left = (28 + 1 + 3) * 2, (28 + 1 + 5) * 2  # map 4: second row, second column
    assert image[top, left].tolist() == lut[255].tolist()
    assert image[0, (28 + 1) * 2].tolist() == lut[0].tolist()  # map 1: the lowest value
    assert image[0, 28 * 2].tolist() == [255, 255, 255]  # the gap between maps 0 and 1
    with pytest.raises(ValueError):
        viz.maps_png(np.zeros((28, 28)), cols=3)
