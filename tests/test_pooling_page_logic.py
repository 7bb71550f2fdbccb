"""Unit tests for the pooling lab's helpers in lenet/pooling_lab.py (checked settings, the
reasons-to-subsample numbers) and its grid, read by lenet.grids.parse_grid. The pooling
maths itself: test_pooling.py."""

import numpy as np
import pandas as pd
import pytest

from lenet.architecture import format_shape as shape_text
from lenet.formulas import pool_formula
from lenet.grids import MAX_ABS as MAX_ABS_VALUE
from lenet.grids import GridError
from lenet.grids import parse_grid as parse_any_grid
from lenet.i18n import LANGUAGES, catalogue, translate
from lenet.model import build_model
from lenet.pooling import (
    POOL_MODES,
    SEED_EXAMPLE,
    pool2d,
    pool2d_backward,
    shift_invariance,
    stochastic_indices,
)
from lenet.pooling_lab import (
    GRADIENT_PRESETS,
    MAX_GRID,
    PoolingInputError,
    PoolSettings,
    lenet_s2_reduction,
    max_difference,
    random_grid,
    resize_grid,
    trainable_subsampling,
    upstream_grid,
)


def parse_grid(table):
    """The pooling page's grid: at most MAX_GRID x MAX_GRID."""
    return parse_any_grid(table, "X", max_size=MAX_GRID)


# --- parse_grid ---------------------------------------------------------------------------------


def test_parse_grid_reads_arrays_frames_and_numeric_text():
    np.testing.assert_array_equal(parse_grid(SEED_EXAMPLE), SEED_EXAMPLE)
    assert parse_grid(SEED_EXAMPLE).dtype == np.float64
    frame = pd.DataFrame(SEED_EXAMPLE, columns=[str(c) for c in range(4)])
    np.testing.assert_array_equal(parse_grid(frame), SEED_EXAMPLE)
    np.testing.assert_array_equal(
        parse_grid([[" 3.5", "-2"], [1, np.int64(7)]]), [[3.5, -2], [1, 7]]
    )
    edge = [[MAX_ABS_VALUE, -MAX_ABS_VALUE]]
    np.testing.assert_array_equal(parse_grid(edge), edge)
    assert parse_grid(np.ones((MAX_GRID, MAX_GRID))).shape == (MAX_GRID, MAX_GRID)


def test_parse_grid_reads_an_edited_frame_with_object_cells():
    frame = pd.DataFrame({"0": ["1", "2"], "1": [3.0, 4]}, dtype=object)
    np.testing.assert_array_equal(parse_grid(frame), [[1, 3], [2, 4]])


BAD_GRIDS = [
    ([[1, None]], "empty_cell", {"row": 1, "col": 2}),
    ([[1, 2], [float("nan"), 4]], "empty_cell", {"row": 2, "col": 1}),
    (pd.DataFrame({"a": [1.0, np.nan]}), "empty_cell", {"row": 2, "col": 1}),
    ([[pd.NA]], "empty_cell", {"row": 1, "col": 1}),
    ([[1, "  "]], "empty_cell", {"row": 1, "col": 2}),
    ([["abc", 1]], "not_a_number", {"row": 1, "col": 1, "value": "abc"}),
    ([[True, 1]], "not_a_number", {"row": 1, "col": 1}),
    ([[1, object()]], "not_a_number", {"row": 1, "col": 2}),
    ([[np.inf]], "not_finite", {"row": 1, "col": 1}),
    ([[1, "-inf"]], "not_finite", {"row": 1, "col": 2}),
    ([["nan"]], "not_finite", {"row": 1, "col": 1}),
    ([[0, 0], [0, 2e6]], "too_large", {"row": 2, "col": 2}),
    ([[-1e300]], "too_large", {"row": 1, "col": 1}),
    (np.zeros((MAX_GRID + 1, 2)), "grid_too_big", {"rows": MAX_GRID + 1, "cols": 2}),
    ([], "empty_grid", {}),
    (np.zeros((0, 3)), "empty_grid", {}),
    ([[1, 2], [3]], "not_a_grid", {}),
    ([1, 2, 3], "not_a_grid", {}),
]


@pytest.mark.parametrize(("grid", "reason", "fields"), BAD_GRIDS)
def test_parse_grid_refuses_bad_cells(grid, reason, fields):
    with pytest.raises(GridError) as info:
        parse_grid(grid)
    assert info.value.reason == reason
    assert fields.items() <= info.value.fields.items()
    assert isinstance(info.value, ValueError)  # callers may catch plain ValueError


def test_every_error_reason_has_a_message_in_both_languages():
    errors = []
    for grid, _, _ in BAD_GRIDS:
        with pytest.raises(GridError) as info:
            parse_grid(grid)
        errors.append(info.value)
    bad_settings = [
        (PoolSettings(kernel=5), SEED_EXAMPLE),
        (PoolSettings(kernel=0), SEED_EXAMPLE),
        (PoolSettings(stride=0), SEED_EXAMPLE),
        (PoolSettings("stochastic"), -SEED_EXAMPLE),
    ]
    for settings, x in bad_settings:
        with pytest.raises(PoolingInputError) as info:
            settings.forward(x)
        errors.append(info.value)
    assert {e.reason for e in errors} >= {
        "window_too_large",
        "stride_too_small",
        "negative_stochastic",
    }
    for lang in LANGUAGES:
        for e in errors:
            prefix = "grid" if isinstance(e, GridError) else "pooling"
            text = translate(f"{prefix}.error_{e.reason}", lang, **e.fields)
            assert "{" not in text and text


# --- grid helpers -------------------------------------------------------------------------------


def test_random_grid_is_whole_numbers_0_to_9_and_seeded():
    grid = random_grid(3, 5, seed=1)
    assert grid.shape == (3, 5) and grid.dtype == np.float64
    assert np.all((grid >= 0) & (grid <= 9)) and np.all(grid == np.round(grid))
    np.testing.assert_array_equal(grid, random_grid(3, 5, seed=1))
    assert not np.array_equal(random_grid(8, 8, seed=1), random_grid(8, 8, seed=2))


def test_resize_grid_cuts_and_pads_with_zeros():
    grown = resize_grid(SEED_EXAMPLE, 6, 5)
    np.testing.assert_array_equal(grown[:4, :4], SEED_EXAMPLE)
    assert grown.shape == (6, 5) and not grown[4:].any() and not grown[:, 4].any()
    np.testing.assert_array_equal(resize_grid(SEED_EXAMPLE, 2, 3), SEED_EXAMPLE[:2, :3])


def test_shape_text():
    assert shape_text((6, 28, 28)) == "6×28×28"


def test_upstream_grid_presets():
    np.testing.assert_array_equal(upstream_grid((2, 2), "ones"), np.ones((2, 2)))
    np.testing.assert_array_equal(upstream_grid((2, 2), "counting"), [[1, 2], [3, 4]])
    assert upstream_grid((1, 3), "counting").tolist() == [[1, 2, 3]]
    assert set(GRADIENT_PRESETS) == {"ones", "counting"}
    with pytest.raises(ValueError, match="preset"):
        upstream_grid((2, 2), "zeros")


# --- PoolSettings -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", POOL_MODES)
def test_settings_pool_like_pool2d(mode):
    settings = PoolSettings(mode, kernel=2, stride=1, p=3.0, seed=7)
    rng = np.random.default_rng(7)
    np.testing.assert_allclose(
        settings.forward(SEED_EXAMPLE), pool2d(SEED_EXAMPLE, 2, 1, mode, 3.0, rng)
    )
    grad = upstream_grid(settings.output_shape(SEED_EXAMPLE.shape), "counting")
    expected = pool2d_backward(SEED_EXAMPLE, grad, 2, 1, mode, 3.0, np.random.default_rng(7))
    np.testing.assert_allclose(settings.backward(SEED_EXAMPLE, grad), expected)
    expected_formula = pool_formula(SEED_EXAMPLE, 0, 0, 2, 1, mode, 3.0, np.random.default_rng(7))
    assert settings.formula(SEED_EXAMPLE, 0, 0) == expected_formula


def test_settings_on_the_seed_example():
    assert PoolSettings() == PoolSettings("max", 2, 2)  # the lesson's defaults
    np.testing.assert_array_equal(PoolSettings("max").forward(SEED_EXAMPLE), [[6, 8], [9, 6]])
    np.testing.assert_allclose(
        PoolSettings("avg").forward(SEED_EXAMPLE), [[3.75, 5.25], [4.5, 3.0]]
    )
    assert PoolSettings("gap").forward(SEED_EXAMPLE)[0, 0] == pytest.approx(4.125)
    assert PoolSettings().output_cells((4, 4)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert PoolSettings("gap").output_cells((4, 4)) == [(0, 0)]
    assert PoolSettings().window_cells((4, 4), 1, 0) == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert len(PoolSettings("gap").window_cells((4, 4), 0, 0)) == 16


def test_stochastic_settings_agree_forward_backward_formula():
    for seed in range(5):
        settings = PoolSettings("stochastic", seed=seed)
        picks = stochastic_indices(SEED_EXAMPLE, 2, 2, np.random.default_rng(seed))
        y = settings.forward(SEED_EXAMPLE)
        np.testing.assert_array_equal(y, SEED_EXAMPLE[picks[..., 0], picks[..., 1]])
        np.testing.assert_array_equal(settings.forward(SEED_EXAMPLE), y)  # reproducible
        dx = settings.backward(SEED_EXAMPLE, np.ones((2, 2)))
        assert {tuple(c) for c in np.argwhere(dx)} == {tuple(p) for p in picks.reshape(-1, 2)}
        assert settings.formula(SEED_EXAMPLE, 0, 0).endswith(rf"\to {int(y[0, 0])}")


@pytest.mark.parametrize(
    ("settings", "x", "reason"),
    [
        (PoolSettings(kernel=5), SEED_EXAMPLE, "window_too_large"),
        (PoolSettings(kernel=3), np.ones((2, 8)), "window_too_large"),
        (PoolSettings(kernel=0), SEED_EXAMPLE, "window_too_small"),
        (PoolSettings(stride=0), SEED_EXAMPLE, "stride_too_small"),
        (PoolSettings(stride=-1), SEED_EXAMPLE, "stride_too_small"),
        (PoolSettings("stochastic"), SEED_EXAMPLE - 1, "negative_stochastic"),
    ],
)
def test_settings_refuse_what_cannot_be_pooled(settings, x, reason):
    for method in (settings.forward, settings.check, lambda x: settings.shift(x, 0, 1)):
        with pytest.raises(PoolingInputError) as info:
            method(x)
        assert info.value.reason == reason


def test_settings_pass_other_errors_on_as_value_errors():
    with pytest.raises(ValueError, match="p must be"):
        PoolSettings("lp", p=0.0).forward(SEED_EXAMPLE)
    with pytest.raises(ValueError, match="grad_out"):
        PoolSettings().backward(SEED_EXAMPLE, np.ones((3, 3)))


def test_gap_ignores_window_and_stride():
    settings = PoolSettings("gap", kernel=0, stride=0)
    assert settings.forward(SEED_EXAMPLE)[0, 0] == pytest.approx(4.125)
    assert settings.reduction((4, 4)).after == 1


def test_reduction():
    r = PoolSettings().reduction((4, 4))
    assert (r.before, r.after, r.factor) == (16, 4, 4.0)
    r = PoolSettings(kernel=3, stride=1).reduction((8, 6))
    assert (r.before, r.after) == (48, 6 * 4)


@pytest.mark.parametrize("mode", ["max", "avg", "gap", "lp"])
@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (0, 1), (1, 0), (-1, 2), (2, -2)])
def test_shift_demo_matches_shift_invariance(mode, dy, dx):
    settings = PoolSettings(mode, kernel=2, stride=2, p=3.0)
    demo = settings.shift(SEED_EXAMPLE, dy, dx)
    assert demo.fraction == pytest.approx(shift_invariance(SEED_EXAMPLE, 2, 2, mode, dy, dx, 3.0))
    np.testing.assert_allclose(demo.after, settings.forward(demo.shifted))
    assert demo.unchanged_count == int(round(demo.fraction * demo.unchanged.size))
    assert set(demo.changed_cells) == {tuple(c) for c in np.argwhere(~demo.unchanged)}


def test_shift_demo_of_the_seed_example():
    demo = PoolSettings("max").shift(SEED_EXAMPLE, 0, 1)
    np.testing.assert_array_equal(demo.after, [[5, 7], [9, 5]])
    assert demo.fraction == 0.25 and demo.changed_cells == [(0, 0), (0, 1), (1, 1)]
    assert PoolSettings("max").shift(SEED_EXAMPLE, 0, 0).fraction == 1.0


# --- LeNet-5 -----------------------------------------------------------------------------------


def test_lenet_s2_reduction_is_measured_on_the_network():
    s2 = lenet_s2_reduction()
    assert (s2.c1_shape, s2.s2_shape, s2.units) == ((6, 28, 28), (6, 14, 14), 120)
    assert (s2.cells.before, s2.cells.after, s2.cells.factor) == (4704, 1176, 4.0)
    assert (s2.dense_params.before, s2.dense_params.after) == (120 * 4705, 120 * 1177)
    fields = s2.fields()
    assert fields["c1"] == "6×28×28" and fields["c1_params"] == 564_600
    for lang in LANGUAGES:
        assert translate("pooling.s2_cells_value", lang, **fields) == "4,704 → 1,176"
        for key in ("s2_cells_caption", "dense_label", "params_value", "dense_caption"):
            assert "{" not in translate(f"pooling.{key}", lang, **fields)


def test_max_difference():
    assert max_difference([[1, 2]], [[1, 2.5]]) == 0.5
    assert max_difference(np.zeros((2, 2)), np.zeros((3, 3))) is None


def test_trainable_subsampling_only_for_lecun1998():
    assert trainable_subsampling(build_model("classic"), 0) is None
    assert trainable_subsampling(build_model("modern"), 0) is None
    assert trainable_subsampling(build_model("lecun1998"), 5) == (0.25, 0.0)  # initial values


def test_pooling_catalogues_have_the_same_keys():
    en = {k for k in catalogue("en") if k.startswith("pooling.")}
    zh = {k for k in catalogue("zh") if k.startswith("pooling.")}
    assert en == zh and len(en) > 50
    for mode in POOL_MODES:
        for prefix in ("mode", "mode_help", "backward"):
            assert f"pooling.{prefix}_{mode}" in en
    for pooling in ("avg", "max", "trainable"):
        assert f"pooling.s2_{pooling}" in en
