import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet.conv_grad import (
    SEED_DELTA,
    SEED_W,
    SEED_X,
    autograd_kernel_grad,
    bias_grad,
    corr2d,
    input_grad,
    kernel_grad,
    manual_grads,
    usage_map,
)
from lenet.formulas import bias_grad_formula, output_formulas, weight_grad_formulas


def lesson_symbols():
    """X1..X9, w1..w4 and d1..d4 of the seed example, 1-based as in the lesson."""
    X = dict(enumerate(SEED_X.ravel().tolist(), start=1))
    w = dict(enumerate(SEED_W.ravel().tolist(), start=1))
    d = dict(enumerate(SEED_DELTA.ravel().tolist(), start=1))
    return X, w, d


def torch_grads(x, w, delta):
    """(dW, db, dX) of L = sum(delta * conv2d(x, w) + b) by autograd, x and w with channels."""
    xt = torch.tensor(x[None], requires_grad=True)
    wt = torch.tensor(w[None], requires_grad=True)
    bt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (F.conv2d(xt, wt, bt)[0, 0] * torch.tensor(delta)).sum().backward()
    return wt.grad[0].numpy(), float(bt.grad[0]), xt.grad[0].numpy()


# --- the lesson's seed example -------------------------------------------------------------


def test_seed_outputs_match_the_lesson():
    X, w, _ = lesson_symbols()
    P1 = w[1] * X[1] + w[2] * X[2] + w[3] * X[4] + w[4] * X[5]
    P2 = w[1] * X[2] + w[2] * X[3] + w[3] * X[5] + w[4] * X[6]
    P3 = w[1] * X[4] + w[2] * X[5] + w[3] * X[7] + w[4] * X[8]
    P4 = w[1] * X[5] + w[2] * X[6] + w[3] * X[8] + w[4] * X[9]
    np.testing.assert_array_equal(corr2d(SEED_X, SEED_W), [[P1, P2], [P3, P4]])
    np.testing.assert_array_equal(
        corr2d(SEED_X, SEED_W, b=1.5), np.array([[P1, P2], [P3, P4]]) + 1.5
    )


def test_seed_gradients_match_the_lesson_and_autograd():
    X, _, d = lesson_symbols()
    dw1 = d[1] * X[1] + d[2] * X[2] + d[3] * X[4] + d[4] * X[5]
    dw2 = d[1] * X[2] + d[2] * X[3] + d[3] * X[5] + d[4] * X[6]
    dw3 = d[1] * X[4] + d[2] * X[5] + d[3] * X[7] + d[4] * X[8]
    dw4 = d[1] * X[5] + d[2] * X[6] + d[3] * X[8] + d[4] * X[9]
    dw = kernel_grad(SEED_X, SEED_DELTA)
    np.testing.assert_array_equal(dw, [[dw1, dw2], [dw3, dw4]])
    assert bias_grad(SEED_DELTA) == d[1] + d[2] + d[3] + d[4] == 10

    auto_dw, auto_db, auto_dx = autograd_kernel_grad(SEED_X, SEED_W, SEED_DELTA)
    np.testing.assert_allclose(dw, auto_dw, atol=1e-6)
    assert auto_db == pytest.approx(bias_grad(SEED_DELTA))
    np.testing.assert_allclose(input_grad(SEED_DELTA, SEED_W), auto_dx, atol=1e-6)


def test_manual_grads_bundle():
    dw, db, dx = manual_grads(SEED_X, SEED_W, SEED_DELTA)
    np.testing.assert_array_equal(dw, kernel_grad(SEED_X, SEED_DELTA))
    assert db == 10.0
    np.testing.assert_array_equal(dx, input_grad(SEED_DELTA, SEED_W))
    assert dx.shape == SEED_X.shape


def test_usage_map_of_omega_1():
    uses = usage_map(SEED_X.shape, SEED_W.shape, 0, 0)
    assert [(u.output, u.input) for u in uses] == [(1, 1), (2, 2), (3, 4), (4, 5)]
    assert [u.input_rc for u in uses] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [u.output_rc for u in uses] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_usage_map_of_omega_4_and_channels():
    uses = usage_map((3, 3), (2, 2), 1, 1)
    assert [(u.output, u.input) for u in uses] == [(1, 5), (2, 6), (3, 8), (4, 9)]
    assert usage_map((3, 5, 5), (3, 2, 2), 1, 1) == usage_map((5, 5), (2, 2), 1, 1)


@pytest.mark.parametrize("seed", range(5))
def test_usage_map_sums_to_the_kernel_gradient(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 5))
    delta = rng.normal(size=(4, 3))
    dw = kernel_grad(x, delta)
    for i in range(3):
        for j in range(3):
            total = sum(
                delta[u.output_rc] * x[u.input_rc] for u in usage_map(x.shape, (3, 3), i, j)
            )
            assert total == pytest.approx(dw[i, j])


# --- random shapes against torch --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_random_shapes_match_autograd(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 4))
    kh, kw = (int(k) for k in rng.integers(1, 6, size=2))
    h, w = kh + int(rng.integers(0, 6)), kw + int(rng.integers(0, 6))
    x = rng.normal(size=(c, h, w))
    weight = rng.normal(size=(c, kh, kw))
    delta = rng.normal(size=(h - kh + 1, w - kw + 1))

    expected_y = F.conv2d(torch.tensor(x[None]), torch.tensor(weight[None]))[0, 0].numpy()
    np.testing.assert_allclose(corr2d(x, weight), expected_y, atol=1e-9)

    dw, db, dx = torch_grads(x, weight, delta)
    np.testing.assert_allclose(kernel_grad(x, delta), dw, atol=1e-6)
    assert bias_grad(delta) == pytest.approx(db)
    np.testing.assert_allclose(input_grad(delta, weight), dx, atol=1e-6)

    auto = autograd_kernel_grad(x, weight, delta)
    np.testing.assert_allclose(auto[0], dw, atol=1e-9)
    np.testing.assert_allclose(auto[2], dx, atol=1e-9)

    if c == 1:  # the 2-D forms give the same numbers
        np.testing.assert_allclose(kernel_grad(x[0], delta), dw[0], atol=1e-6)
        np.testing.assert_allclose(input_grad(delta, weight[0]), dx[0], atol=1e-6)


def test_input_grad_is_the_send_back_rule():
    rng = np.random.default_rng(11)
    delta, w = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    expected = np.zeros((4, 6))
    for i in range(3):
        for j in range(4):
            expected[i : i + 2, j : j + 3] += delta[i, j] * w
    np.testing.assert_allclose(input_grad(delta, w), expected)


# --- formulas ----------------------------------------------------------------------------------


def test_output_formulas_on_the_seed():
    lines = output_formulas(SEED_X, SEED_W)
    assert len(lines) == 4
    assert lines[0] == (
        r"P_{1} = \omega_{1} X_{1} + \omega_{2} X_{2} + \omega_{3} X_{4} + \omega_{4} X_{5}"
        r" = 1\cdot 1 + 0\cdot 2 + (-1)\cdot 4 + 2\cdot 5 = 7"
    )
    assert lines[3].startswith(r"P_{4} = \omega_{1} X_{5} + \omega_{2} X_{6}")
    for line, value in zip(lines, corr2d(SEED_X, SEED_W).ravel(), strict=True):
        assert line.endswith(f"= {int(value)}")
    assert output_formulas(SEED_X, SEED_W, b=-0.5)[0].endswith(
        r"+ b = 1\cdot 1 + 0\cdot 2 + (-1)\cdot 4 + 2\cdot 5 + (-0.5) = 6.5"
    )


def test_weight_and_bias_formulas_on_the_seed():
    lines = weight_grad_formulas(SEED_X, SEED_DELTA)
    assert len(lines) == 4
    assert lines[0] == (
        r"\frac{\partial L}{\partial \omega_{1}} = \delta_{1} X_{1} + \delta_{2} X_{2}"
        r" + \delta_{3} X_{4} + \delta_{4} X_{5} = 1\cdot 1 + 2\cdot 2 + 3\cdot 4 + 4\cdot 5 = 37"
    )
    assert lines[3].endswith("= 77")
    assert bias_grad_formula(SEED_DELTA) == (
        r"\frac{\partial L}{\partial b} = \delta_{1} + \delta_{2} + \delta_{3} + \delta_{4}"
        r" = 1 + 2 + 3 + 4 = 10"
    )
    assert bias_grad_formula([[1.5, -2]]).endswith("= 1.5 + (-2) = -0.5")


def test_formulas_work_for_other_sizes():
    x = np.arange(1, 21).reshape(4, 5)
    w = np.ones((2, 3))
    assert len(output_formulas(x, w)) == 3 * 3
    lines = weight_grad_formulas(x, np.ones((3, 3)))
    assert len(lines) == 2 * 3
    assert r"\delta_{9} X_{" in lines[0] or r"\cdots" in lines[0]
    big = weight_grad_formulas(np.ones((28, 28)), np.ones((24, 24)))
    assert len(big) == 25 and r"\cdots" in big[0] and big[0].endswith("= 576")
    assert r"\cdots" not in weight_grad_formulas(x, np.ones((3, 3)), max_terms=None)[0]


# --- invalid input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: corr2d(np.ones(3), np.ones(2)), "2-D or 3-D"),
        (lambda: corr2d(np.ones((3, 3)), np.ones((2, 2, 2))), "both"),
        (lambda: corr2d(np.ones((2, 3, 3)), np.ones((3, 2, 2))), "channels"),
        (lambda: corr2d(np.ones((2, 2)), np.ones((3, 3))), "larger"),
        (lambda: corr2d([[1.0, np.nan]], [[1.0]]), "NaN"),
        (lambda: corr2d([[1.0, 2.0]], [[np.inf]]), "infinite"),
        (lambda: corr2d([["a"]], [[1.0]]), "numbers"),
        (lambda: corr2d(np.ones((0, 3)), np.ones((1, 1))), "empty"),
        (lambda: kernel_grad(np.ones((3, 3)), np.ones((4, 4))), "larger"),
        (lambda: kernel_grad(np.ones((3, 3)), np.ones((2, 2, 2))), "2-D"),
        (lambda: bias_grad(np.ones(3)), "2-D"),
        (lambda: input_grad(np.ones((2, 2)), np.ones(2)), "2-D or 3-D"),
        (lambda: manual_grads(SEED_X, SEED_W, np.ones((3, 3))), "shape"),
        (lambda: autograd_kernel_grad(SEED_X, SEED_W, np.ones((1, 2))), "shape"),
        (lambda: usage_map((3, 3), (2, 2), 2, 0), "outside"),
        (lambda: usage_map((2, 2), (3, 3), 0, 0), "larger"),
        (lambda: output_formulas(np.ones((2, 3, 3)), np.ones((2, 2, 2))), "2-D"),
        (lambda: weight_grad_formulas(SEED_X, [[np.nan]]), "NaN"),
        (lambda: bias_grad_formula([[np.inf]]), "infinite"),
    ],
)
def test_invalid_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
