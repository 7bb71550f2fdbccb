import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet.formulas import format_number, pool_formula
from lenet.pooling import (
    POOL_MODES,
    SEED_EXAMPLE,
    output_shape,
    pool2d,
    pool2d_backward,
    pool_window,
    pool_window_cells,
    shift_invariance,
    stochastic_indices,
)
from lenet.preprocess import shift


def random_case(rng: np.random.Generator):
    """A random map with a kernel and stride that fit it; stride < kernel happens often."""
    h, w = rng.integers(2, 10, size=2)
    kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return (int(h), int(w)), (kh, kw), (sh, sw)


def as_torch(x, requires_grad=False):
    return torch.tensor(x, dtype=torch.float64)[None, None].requires_grad_(requires_grad)


def torch_pool(t, kernel, stride, mode, p=2.0):
    if mode == "max":
        return F.max_pool2d(t, kernel, stride)
    if mode == "avg":
        return F.avg_pool2d(t, kernel, stride)
    if mode == "gap":
        return F.adaptive_avg_pool2d(t, 1)
    return F.lp_pool2d(t, p, kernel, stride)


# --- the seed example -----------------------------------------------------------------------


def test_seed_example_values():
    x = SEED_EXAMPLE
    assert x.dtype.kind == "i"
    np.testing.assert_array_equal(pool2d(x, 2, 2, "max"), [[6, 8], [9, 6]])
    np.testing.assert_allclose(pool2d(x, 2, 2, "avg"), [[3.75, 5.25], [4.5, 3.0]])
    gap = pool2d(x, 2, 2, "gap")
    assert gap.shape == (1, 1)
    assert gap[0, 0] == pytest.approx(4.125)
    for mode in POOL_MODES:
        assert pool2d(x, 2, 2, mode).dtype == np.float64


def test_seed_formulas():
    x = SEED_EXAMPLE
    assert pool_formula(x, 0, 0, 2, 2, "max") == r"\max(1, 3, 5, 6) = 6"
    assert pool_formula(x, 0, 0, 2, 2, "avg") == r"\frac{1 + 3 + 5 + 6}{4} = 3.75"
    assert pool_formula(x, 0, 1, 2, 2, "max").endswith("= 8")
    assert pool_formula(x, 0, 1, 2, 2, "avg").endswith("= 5.25")
    assert pool_formula(x, 1, 1, 2, 2, "avg") == r"\frac{0 + 1 + 5 + 6}{4} = 3"
    gap = pool_formula(x, 0, 0, 2, 2, "gap")
    assert gap.startswith(r"\frac{1 + 3 + 2 + 4") and gap.endswith("{16} = 4.125")
    lp = pool_formula(x, 0, 0, 2, 2, "lp", p=2)
    assert lp == r"\left(1^{2} + 3^{2} + 5^{2} + 6^{2}\right)^{1/2} = 8.426"
    stochastic = pool_formula(x, 0, 0, 2, 2, "stochastic")
    assert r"\tfrac{6}{15}" in stochastic
    assert stochastic.endswith(f"\\to {format_number(pool2d(x, 2, 2, 'stochastic')[0, 0])}")


def test_formula_shortens_long_windows_and_marks_negatives():
    x = np.arange(100).reshape(10, 10)
    text = pool_formula(x, 0, 0, 1, 1, "gap")
    assert r"\cdots" in text and text.endswith("{100} = 49.5")
    assert r"\cdots" not in pool_formula(x, 0, 0, 1, 1, "gap", max_terms=None)
    assert r"|-2|^{3}" in pool_formula([[-2.0, 1.0]], 0, 0, (1, 2), 1, "lp", p=3)


@pytest.mark.parametrize(
    ("value", "text"),
    [(6.0, "6"), (-0.0, "0"), (3.75, "3.75"), (8.426149, "8.426"), (-2, "-2"), (1e-7, None)],
)
def test_format_number(value, text):
    out = format_number(value)
    if text is None:
        assert r"\times 10^{-7}" in out
    else:
        assert out == text


# --- windows and shapes -----------------------------------------------------------------------


def test_windows_of_seed_example():
    assert pool_window((4, 4), 1, 0, 2, 2) == (slice(2, 4), slice(0, 2))
    assert pool_window_cells((4, 4), 0, 1, 2, 2) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    assert len(pool_window_cells((4, 4), 0, 0, 2, 2, "gap")) == 16
    assert pool_window((5, 5), 1, 1, 3, 1) == (slice(1, 4), slice(1, 4))


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "expected"),
    [
        ((4, 4), 2, 2, (2, 2)),
        ((5, 5), 2, 2, (2, 2)),
        ((28, 28), 5, 1, (24, 24)),
        ((7, 6), (3, 2), (2, 1), (3, 5)),
    ],
)
def test_output_shape(shape, kernel, stride, expected):
    assert output_shape(shape, kernel, stride) == expected
    assert pool2d(np.ones(shape), kernel, stride, "max").shape == expected


# --- forward vs torch -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["max", "avg", "lp"])
@pytest.mark.parametrize("seed", range(15))
def test_forward_matches_torch(mode, seed):
    rng = np.random.default_rng(seed)
    shape, kernel, stride = random_case(rng)
    x = rng.uniform(0, 5, size=shape) if mode == "lp" else rng.normal(size=shape)
    p = float(rng.choice([1.0, 2.0, 3.0, 4.5]))
    ours = pool2d(x, kernel, stride, mode, p=p)
    theirs = torch_pool(as_torch(x), kernel, stride, mode, p)[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_overlapping_windows_match_torch():
    x = np.random.default_rng(1).normal(size=(9, 9))
    for mode in ("max", "avg"):
        ours = pool2d(x, 3, 1, mode)
        np.testing.assert_allclose(ours, torch_pool(as_torch(x), 3, 1, mode)[0, 0].numpy())


def test_gap_matches_torch():
    x = np.random.default_rng(2).normal(size=(6, 7))
    np.testing.assert_allclose(pool2d(x, 2, 2, "gap"), torch_pool(as_torch(x), 0, 0, "gap")[0, 0])


def test_lp_with_p_1_is_the_sum_and_large_p_approaches_the_max():
    x = np.random.default_rng(3).uniform(0, 10, size=(6, 6))
    sums = np.array(
        [[x[i : i + 2, j : j + 2].sum() for j in range(0, 6, 2)] for i in range(0, 6, 2)]
    )
    np.testing.assert_allclose(pool2d(x, 2, 2, "lp", p=1), sums)
    for p in (200.0, 1e6):  # 1e6 would overflow without scaling by the window max
        big_p = pool2d(x, 2, 2, "lp", p=p)
        assert np.all(np.isfinite(big_p))
        np.testing.assert_allclose(big_p, pool2d(x, 2, 2, "max"), rtol=1e-2)


def test_lp_uses_absolute_values():
    assert pool2d([[-3.0, 4.0]], (1, 2), 1, "lp", p=2)[0, 0] == pytest.approx(5.0)


# --- backward vs torch autograd -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["max", "avg", "lp", "gap"])
@pytest.mark.parametrize("seed", range(15))
def test_backward_matches_autograd(mode, seed):
    rng = np.random.default_rng(100 + seed)
    shape, kernel, stride = random_case(rng)
    x = rng.uniform(0.1, 5, size=shape) if mode == "lp" else rng.normal(size=shape)
    p = float(rng.choice([1.0, 2.0, 3.0]))
    out_shape = (1, 1) if mode == "gap" else output_shape(shape, kernel, stride)
    grad_out = rng.normal(size=out_shape)

    t = as_torch(x, requires_grad=True)
    out = torch_pool(t, kernel, stride, mode, p)
    (out[0, 0] * torch.tensor(grad_out)).sum().backward()

    ours = pool2d_backward(x, grad_out, kernel, stride, mode, p=p)
    assert ours.shape == x.shape
    np.testing.assert_allclose(ours, t.grad[0, 0].numpy(), rtol=1e-6, atol=1e-9)


def test_max_backward_ties_go_to_the_first_element():
    x = np.array([[5.0, 5.0], [5.0, 1.0]])
    np.testing.assert_array_equal(pool2d_backward(x, [[1.0]], 2, 2, "max"), [[1, 0], [0, 0]])
    t = as_torch(x, requires_grad=True)
    F.max_pool2d(t, 2, 2).sum().backward()
    np.testing.assert_array_equal(t.grad[0, 0].numpy(), [[1, 0], [0, 0]])


def test_seed_backward():
    x, g = SEED_EXAMPLE, np.array([[1.0, 2.0], [3.0, 4.0]])
    expected_max = [[0, 0, 0, 0], [0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 0, 4]]
    np.testing.assert_array_equal(pool2d_backward(x, g, 2, 2, "max"), expected_max)
    np.testing.assert_allclose(pool2d_backward(x, g, 2, 2, "avg")[:2, :2], 0.25)
    np.testing.assert_allclose(pool2d_backward(x, [[8.0]], 2, 2, "gap"), 0.5)


def test_lp_backward_is_zero_where_the_window_is_zero():
    x = np.zeros((4, 4))
    x[0, 0] = 2.0
    dx = pool2d_backward(x, np.ones((2, 2)), 2, 2, "lp", p=3)
    assert dx[0, 0] == pytest.approx(1.0)
    assert np.count_nonzero(dx) == 1


# --- stochastic pooling ---------------------------------------------------------------------


def test_stochastic_is_reproducible():
    x = np.random.default_rng(4).uniform(0, 1, size=(8, 8))
    a = pool2d(x, 2, 2, "stochastic")
    np.testing.assert_array_equal(a, pool2d(x, 2, 2, "stochastic"))
    b = pool2d(x, 2, 2, "stochastic", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(b, pool2d(x, 2, 2, "stochastic", rng=np.random.default_rng(7)))


@pytest.mark.parametrize("seed", range(10))
def test_stochastic_picks_a_positive_element_of_its_window(seed):
    rng = np.random.default_rng(seed)
    shape, kernel, stride = random_case(rng)
    x = rng.uniform(0, 1, size=shape) * (rng.uniform(size=shape) < 0.5)  # about half zeros
    picks = stochastic_indices(x, kernel, stride, np.random.default_rng(seed))
    out = pool2d(x, kernel, stride, "stochastic", rng=np.random.default_rng(seed))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            window = x[pool_window(shape, i, j, kernel, stride)]
            assert tuple(picks[i, j]) in pool_window_cells(shape, i, j, kernel, stride)
            assert out[i, j] == x[tuple(picks[i, j])]
            assert out[i, j] in window
            if window.max() > 0:
                assert out[i, j] > 0
            else:
                assert out[i, j] == 0


def test_stochastic_follows_the_probabilities():
    x = np.array([[1.0, 3.0]])
    rng = np.random.default_rng(0)
    draws = [pool2d(x, (1, 2), 1, "stochastic", rng=rng)[0, 0] for _ in range(4000)]
    assert np.mean(np.array(draws) == 3.0) == pytest.approx(0.75, abs=0.03)


def test_stochastic_backward_goes_to_the_sampled_cells():
    x = np.random.default_rng(5).uniform(0, 1, size=(6, 6))
    picks = stochastic_indices(x, 3, 1, np.random.default_rng(9))
    grad_out = np.random.default_rng(6).normal(size=(4, 4))
    expected = np.zeros_like(x)
    for i in range(4):
        for j in range(4):
            expected[tuple(picks[i, j])] += grad_out[i, j]
    dx = pool2d_backward(x, grad_out, 3, 1, "stochastic", rng=np.random.default_rng(9))
    np.testing.assert_allclose(dx, expected)
    np.testing.assert_allclose(
        pool2d_backward(x, grad_out, 3, 1, "stochastic"),
        pool2d_backward(x, grad_out, 3, 1, "stochastic", rng=np.random.default_rng(0)),
    )


# --- shifts ---------------------------------------------------------------------------------


def test_shift_image():
    x = np.arange(1, 10).reshape(3, 3)
    np.testing.assert_array_equal(shift(x, 1, 0), [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(shift(x, 0, -1), [[2, 3, 0], [5, 6, 0], [8, 9, 0]])
    np.testing.assert_array_equal(shift(x, -1, 1), [[0, 4, 5], [0, 7, 8], [0, 0, 0]])
    np.testing.assert_array_equal(shift(x, 0, 0), x)
    np.testing.assert_array_equal(shift(x, 5, 0), np.zeros((3, 3)))


def test_shift_invariance():
    x = np.zeros((8, 8))
    x[2, 2] = 1.0  # a single bright pixel; moving it inside its 2x2 window keeps the max
    assert shift_invariance(x, 2, 2, "max", 1, 1) == 1.0
    assert shift_invariance(x, 2, 2, "max", 0, 2) == pytest.approx(14 / 16)
    assert shift_invariance(x, 2, 2, "gap", 1, 1) == 1.0
    assert 0.0 <= shift_invariance(SEED_EXAMPLE, 2, 2, "avg", 0, 1) <= 1.0


# --- invalid input ---------------------------------------------------------------------------


GOOD = np.ones((4, 4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.ones(4)}, "2-D"),
        ({"x": np.ones((2, 2, 2))}, "2-D"),
        ({"x": np.ones((0, 4))}, "empty"),
        ({"x": [[1.0, np.nan], [1.0, 1.0]]}, "NaN"),
        ({"x": [[1.0, np.inf], [1.0, 1.0]]}, "infinite"),
        ({"x": [["a", "b"], ["c", "d"]]}, "numbers"),
        ({"x": [[1, 2], [3]]}, "rectangular"),
        ({"x": np.ones((2, 2), dtype=bool)}, "numbers"),
        ({"kernel": 0}, "kernel"),
        ({"kernel": -1}, "kernel"),
        ({"kernel": 2.5}, "kernel"),
        ({"kernel": (2, 0)}, "kernel"),
        ({"kernel": (2, 2, 2)}, "kernel"),
        ({"kernel": True}, "kernel"),
        ({"stride": 0}, "stride"),
        ({"stride": 1.0}, "stride"),
        ({"stride": "2"}, "stride"),
        ({"kernel": 5}, "larger"),
        ({"kernel": (1, 5)}, "larger"),
        ({"mode": "lp", "p": 0}, "p must be"),
        ({"mode": "lp", "p": -1.0}, "p must be"),
        ({"mode": "lp", "p": np.inf}, "p must be"),
        ({"mode": "lp", "p": np.nan}, "p must be"),
        ({"mode": "stochastic", "x": -GOOD}, "non-negative"),
        ({"mode": "median"}, "max, avg, gap, lp, stochastic"),
        ({"mode": None}, "unknown pooling mode"),
    ],
)
def test_invalid_input_raises(kwargs, message):
    args = {"x": GOOD, "kernel": 2, "stride": 2, "mode": "max"} | kwargs
    with pytest.raises(ValueError, match=message):
        pool2d(**args)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pool2d_backward(GOOD, np.ones((3, 3)), 2, 2, "max"),
        lambda: pool2d_backward(GOOD, np.ones((2, 2)), 2, 2, "gap"),
        lambda: pool2d_backward(GOOD, [[np.nan, 1], [1, 1]], 2, 2, "avg"),
        lambda: pool2d_backward(GOOD, np.ones((2, 2)), 2, 2, "mean"),
        lambda: pool_formula(GOOD, 2, 0, 2, 2, "max"),
        lambda: pool_formula(GOOD, 0, 1, 2, 2, "gap"),
        lambda: pool_formula(GOOD, 0, 0, 2, 2, "lp", p=0),
        lambda: pool_window((4, 4), -1, 0, 2, 2),
        lambda: shift(GOOD, 0.5, 0),
        lambda: shift(np.ones(3), 1, 0),
    ],
)
def test_other_invalid_calls_raise(call):
    with pytest.raises(ValueError):
        call()


def test_gap_ignores_kernel_and_stride():
    assert pool2d(GOOD, 99, 0, "gap")[0, 0] == 1.0
