"""The kernel-gradient page with AppTest: the lesson's example with its numbers, the weight's
highlighted pixels, hand vs autograd, the general case, C1 of the real network, bad input."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from lenet.checkpoint import load_checkpoint, models_dir
from lenet.conv_grad import (
    SEED_DELTA,
    SEED_W,
    SEED_X,
    autograd_kernel_grad,
    kernel_grad,
    usage_map,
)
from lenet.conv_grad_lab import (
    INPUT_GRAD_LATEX,
    KERNEL_GRAD_LATEX,
    decimal_scale,
    grad_check,
    random_case,
    target_loss,
)
from lenet.formulas import bias_grad_formula, output_formulas, weight_grad_formulas
from lenet.grids import CELL_REASONS, GRID_REASONS
from lenet.i18n import translate
from lenet.inference import c1_kernel_gradients, predict
from lenet.preprocess import canvas_to_mnist
from lenet_testkit.apptest import run_page, table_outlined, table_title, table_values, texts
from lenet_testkit.digits import render

PAGE = "pages/kernel_gradient.py"


def tr(key: str, lang: str = "en", **fields) -> str:
    return translate(f"kernel_gradient.{key}", lang, **fields)


def latex(at) -> list[str]:
    """The formulas shown (inline maths, $...$, that wraps on a narrow screen), without the $."""
    shown = [e.value for e in at.markdown]
    return [v.strip("$\n") for v in shown if v.startswith("$") and v.endswith("$")]


def figure(at, key: str) -> dict:
    """A plotly chart's figure, or a lab matrix (lenet.ui.matrix_table / maps_tables) in the
    same shape: its title, its values (z), the labels written in it and its outlined cells."""
    charts = [e for e in at.get("plotly_chart") if e.proto.id.endswith(f"-{key}")]
    if charts:
        (chart,) = charts
        return json.loads(chart.proto.spec)
    values, labels = table_values(at, key)
    shapes = [{"y0": i - 0.5, "x0": j - 0.5} for i, j in table_outlined(at, key)]
    return {
        "data": [{"z": values, "text": labels}],
        "layout": {"title": {"text": table_title(at, key)}, "shapes": shapes},
    }


def z_values(fig: dict) -> np.ndarray:
    z = fig["data"][0]["z"]
    if isinstance(z, dict):  # plotly's typed-array encoding
        shape = [int(n) for n in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=float)


def outlined(fig: dict) -> set[tuple[int, int]]:
    """(row, col) of the cells a lab matrix outlines."""
    return {(round(s["y0"] + 0.5), round(s["x0"] + 0.5)) for s in fig["layout"].get("shapes", [])}


def no_problem(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def edit(at, grid: str, edited=None, added=(), deleted=(), generation: int = 0):
    """Seed st.data_editor's edit state (AppTest cannot type into the grid), then rerun."""
    at.session_state[f"kg_{grid}_{generation}"] = {
        "edited_rows": edited or {},
        "added_rows": list(added),
        "deleted_rows": list(deleted),
    }
    return at.run()


# --- the lesson's example ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_runs_in_both_languages(lang):
    at = run_page(PAGE, lang)
    no_problem(at)
    assert at.title[0].value == tr("title", lang)
    shown = texts(at)
    for key in ("seed_header", "general_header", "network_header", "rule"):
        assert tr(key, lang) in shown
    # no digit drawn yet: a hint and a link to the draw page instead of C1's gradients
    assert at.info[-1].value == tr("no_digit", lang)
    link, onward = at.get("page_link")
    assert link.proto.label == tr("go_draw", lang)
    assert link.proto.page.endswith("draw")
    # and, at the end, one layer further: the gradient reaching the pixels
    assert onward.proto.label == translate("explain.from_kernel_gradient", lang)
    assert onward.proto.page.endswith("explain")


def test_seed_example_hand_gradient_equals_autograd_and_is_shown():
    at = run_page(PAGE)
    no_problem(at)
    hand = kernel_grad(SEED_X, SEED_DELTA)
    auto_dw, auto_db, _ = autograd_kernel_grad(SEED_X, SEED_W, SEED_DELTA)
    np.testing.assert_allclose(hand, auto_dw, atol=1e-6)
    np.testing.assert_array_equal(hand, [[37, 47], [67, 77]])

    formulas = latex(at)
    for line in output_formulas(SEED_X, SEED_W) + weight_grad_formulas(SEED_X, SEED_DELTA):
        assert line in formulas
    assert formulas[8] == bias_grad_formula(SEED_DELTA)
    assert formulas[0].endswith("= 7") and formulas[4].endswith("= 37")

    np.testing.assert_array_equal(z_values(figure(at, "kg_dw_hand")), hand)
    np.testing.assert_allclose(z_values(figure(at, "kg_dw_autograd")), auto_dw, atol=1e-12)
    assert at.metric[0].label == tr("max_diff")
    assert at.metric[0].value == tr("agree", diff=0.0) == "0.0e+00 ✓"
    assert tr("bias_check", hand=10.0, auto=auto_db) in texts(at)


def test_weight_selectbox_moves_the_highlight():
    at = run_page(PAGE)
    assert outlined(figure(at, "kg_input")) == {(0, 0), (0, 1), (1, 0), (1, 1)}  # w1
    for k in (3, 1, 2, 0):
        at.selectbox(key="kg_weight").select(k).run()
        no_problem(at)
        uses = usage_map(SEED_X.shape, SEED_W.shape, *divmod(k, 2))
        pairs = ", ".join(tr("use_pair", output=u.output, input=u.input) for u in uses)
        assert tr("uses", k=k + 1, count=4, pairs=pairs) in texts(at)
        # after P1..P4, dL/dw1..dL/dw4 and dL/db: the chosen weight's formula
        assert latex(at)[9] == weight_grad_formulas(SEED_X, SEED_DELTA)[k]

        fig = figure(at, "kg_input")
        assert fig["layout"]["title"]["text"].replace("<br>", " ") == tr("input_title", k=k + 1)
        assert outlined(fig) == {u.input_rc for u in uses}
        if k == 3:
            assert outlined(fig) == {(1, 1), (1, 2), (2, 1), (2, 2)}
        labels = np.array(fig["data"][0]["text"])
        for u in uses:
            assert labels[u.input_rc].endswith("→ P" + "₀₁₂₃₄₅₆₇₈₉"[u.output])
        assert sum("→" in label for label in labels.ravel()) == 4
        assert outlined(figure(at, "kg_kernel")) == {divmod(k, 2)}


def test_a_smaller_kernel_takes_the_weight_choice_back_to_omega_1():
    at = run_page(PAGE)
    at.selectbox(key="kg_weight").select(3).run()
    edit(at, "w", deleted=[1])  # the kernel is now 1x2: 3x2 outputs
    edit(at, "delta", added=[{"1": "1", "2": "1"}])
    no_problem(at)
    weight = at.selectbox(key="kg_weight")
    assert weight.options == ["ω1", "ω2"] and weight.value == 0
    x, delta = SEED_X, np.array([[1, 2], [3, 4], [1, 1]])
    assert latex(at)[6 + 2 + 1] == weight_grad_formulas(x, delta)[0]  # P1..P6, dw1, dw2, db


def test_editing_the_grids_and_the_bias_updates_every_number():
    at = run_page(PAGE)
    edit(at, "x", edited={0: {"1": "10"}})  # X1 = 10
    at.number_input(key="kg_bias").set_value(1.5).run()
    no_problem(at)
    x = SEED_X.copy()
    x[0, 0] = 10
    for line in output_formulas(x, SEED_W, 1.5) + weight_grad_formulas(x, SEED_DELTA):
        assert line in latex(at)
    assert latex(at)[0].endswith(
        "+ b = 1\\cdot 10 + 0\\cdot 2 + (-1)\\cdot 4 + 2\\cdot 5 + 1.5 = 17.5"
    )
    hand = kernel_grad(x, SEED_DELTA)
    assert hand[0, 0] == 46
    np.testing.assert_array_equal(z_values(figure(at, "kg_dw_hand")), hand)
    np.testing.assert_allclose(
        z_values(figure(at, "kg_dw_autograd")),
        autograd_kernel_grad(x, SEED_W, SEED_DELTA, 1.5)[0],
        atol=1e-12,
    )
    assert at.metric[0].value.endswith("✓")


def test_a_bigger_input_with_matching_delta_works():
    at = run_page(PAGE)
    edit(at, "x", added=[{"1": "1", "2": "0", "3": "-1"}])  # X is 4x3: 3x2 outputs
    assert at.error[0].value == tr("error_delta_shape", expected="3×2", got="2×2")
    edit(at, "delta", added=[{"1": "5", "2": "6"}])
    no_problem(at)
    x = np.vstack([SEED_X, [1, 0, -1]])
    delta = np.vstack([SEED_DELTA, [5, 6]])
    assert len(output_formulas(x, SEED_W)) == 6
    for line in output_formulas(x, SEED_W) + weight_grad_formulas(x, delta):
        assert line in latex(at)
    assert grad_check(x, SEED_W, delta).agrees and at.metric[0].value.endswith("✓")


def test_reset_button_brings_back_the_lesson():
    at = run_page(PAGE)
    edit(at, "w", edited={1: {"1": "7"}})
    at.number_input(key="kg_bias").set_value(-2.0).run()
    assert output_formulas(SEED_X, SEED_W)[0] not in latex(at)
    at.button(key="kg_reset").click().run()
    no_problem(at)
    assert at.number_input(key="kg_bias").value == 0.0
    assert output_formulas(SEED_X, SEED_W)[0] in latex(at)


# --- invalid input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "change", "reason", "fields"),
    [
        ("x", {"edited": {0: {"2": "abc"}}}, "not_a_number", {"value": "abc", "row": 1, "col": 2}),
        ("x", {"edited": {1: {"1": "inf"}}}, "not_finite", {"value": "inf", "row": 2, "col": 1}),
        ("w", {"edited": {0: {"1": "nan"}}}, "not_finite", {"value": "nan", "row": 1, "col": 1}),
        ("w", {"edited": {1: {"2": ""}}}, "empty_cell", {"row": 2, "col": 2}),
        (
            "delta",
            {"edited": {0: {"1": "1e9"}}},
            "too_large",
            {"value": "1e9", "row": 1, "col": 1, "limit": 1_000_000},
        ),
        (
            "delta",
            {"added": [{"1": "1", "2": "2"}]},
            "delta_shape",
            {"expected": "2×2", "got": "3×2"},
        ),
        ("x", {"deleted": [0, 1]}, "kernel_too_large", {"kernel": "2×2", "input": "1×3"}),
        ("w", {"deleted": [0, 1]}, "empty_grid", {}),
    ],
)
def test_invalid_grid_input_shows_an_error(grid, change, reason, fields):
    at = run_page(PAGE)
    edit(at, grid, **change)
    assert not at.exception
    names = {"x": "name_x", "w": "name_w", "delta": "name_delta"}
    if reason in GRID_REASONS + CELL_REASONS:  # the typed grid's own errors (lenet.grids)
        message = translate(f"grid.error_{reason}", name=tr(names[grid]), **fields)
    else:
        message = tr(f"error_{reason}", **fields)
    assert [e.value for e in at.error] == [message]
    assert output_formulas(SEED_X, SEED_W)[0] not in latex(at)  # the example's results hide
    assert len(at.metric) == 2  # the general case is still there


def test_after_invalid_input_the_page_stays_usable():
    at = run_page(PAGE)
    edit(at, "x", edited={0: {"1": "x1"}})
    assert len(at.error) == 1
    at.slider(key="kg_size").set_value(4).run()
    assert not at.exception and len(at.error) == 1
    assert at.metric[0].value == tr("agree", diff=general_check(size=4).diff_w)
    edit(at, "x")  # the cell typed back in
    no_problem(at)
    assert output_formulas(SEED_X, SEED_W)[0] in latex(at)


def test_invalid_input_is_explained_in_chinese_too():
    at = run_page(PAGE, "zh")
    edit(at, "x", edited={0: {"1": "一"}})
    assert at.error[0].value == translate(
        "grid.error_not_a_number", "zh", name=tr("name_x", "zh"), value="一", row=1, col=1
    )


# --- the general case ----------------------------------------------------------------------------


def general_check(size=6, kernel=3, channels=2, seed=0):
    return grad_check(*random_case(size, kernel, channels, seed))


def test_every_general_control_reruns_and_agrees_with_autograd():
    at = run_page(PAGE)
    case = {"size": 6, "kernel": 3, "channels": 2, "seed": 0}
    steps = [
        ("slider", "kg_size", "size", 10),
        ("slider", "kg_kernel_size", "kernel", 5),
        ("slider", "kg_channels", "channels", 3),
        ("slider", "kg_kernel_size", "kernel", 1),
        ("slider", "kg_channels", "channels", 1),
        ("number_input", "kg_seed", "seed", 42),
    ]
    for widget, key, name, value in steps:
        getattr(at, widget)(key=key).set_value(value).run()
        no_problem(at)
        case[name] = value
        check = general_check(**case)
        assert [m.value for m in at.metric[1:]] == [
            tr("agree", diff=check.diff_w),
            tr("agree", diff=check.diff_x),
        ]
        # dL/dW by hand: one kernel-sized table per channel, every value written
        shown = z_values(figure(at, "kg_gdw_hand"))
        k, c = case["kernel"], case["channels"]
        np.testing.assert_allclose(shown.reshape(c, k, k), check.manual_dw, atol=1e-3)
    assert [f.strip("$\n") for f in latex(at)[-2:]] == [KERNEL_GRAD_LATEX, INPUT_GRAD_LATEX]


def test_kernel_larger_than_input_shows_an_error():
    at = run_page(PAGE)
    at.slider(key="kg_size").set_value(3).run()
    at.slider(key="kg_kernel_size").set_value(5).run()
    assert not at.exception
    assert [e.value for e in at.error] == [tr("error_kernel_too_large", kernel="5×5", input="3×3")]
    assert len(at.metric) == 1  # the lesson's example is still there
    assert tr("no_digit") in texts(at)  # and so is the rest of the page
    at.slider(key="kg_size").set_value(7).run()
    no_problem(at)


# --- the real network ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint():
    names = sorted(p.name for p in models_dir().glob("lenet5-*.safetensors"))
    if not names:
        pytest.skip(f"no checkpoint in {models_dir()} yet (they are trained separately)")
    return names[0], load_checkpoint(models_dir() / names[0])


def test_c1_kernel_gradients_of_the_drawn_digit(checkpoint):
    name, model = checkpoint
    digit = canvas_to_mnist(render(7))
    at = run_page(PAGE, digit=digit, checkpoint=name)
    no_problem(at)
    predicted = predict(model, digit).digit
    assert at.selectbox(key="kg_target").value == predicted

    for target in (predicted, (predicted + 1) % 10):
        if target != predicted:
            at.session_state["checkpoint"] = name  # AppTest runs the page alone on reruns
            at.selectbox(key="kg_target").select(target).run()
            no_problem(at)
        grads, exponent = decimal_scale(c1_kernel_gradients(model, digit, target))
        fig = figure(at, "kg_c1_grads")
        assert fig["layout"]["title"]["text"].replace("<br>", " ") == tr(
            "c1_title", exponent=exponent
        )
        shown = z_values(fig)
        assert np.count_nonzero(~np.isnan(shown)) == 6 * 25
        # six 5x5 maps in one row, NaN gaps between them
        tiles = shown[~np.isnan(shown)].reshape(5, 6, 5).transpose(1, 0, 2)
        np.testing.assert_allclose(tiles, grads, atol=1e-3)
        loss = target_loss(model, digit, target)
        assert tr("meaning", target=target, loss=loss) in texts(at)
    assert loss > target_loss(model, digit, predicted)  # the wrong class costs more


# --- big numbers (issue 22.2) --------------------------------------------------------------------

BIG_X = [
    ["999999.7", "123456.789", "-987654.3"],
    ["555555.55", "-333333.3", "777777.7"],
    ["111111.1", "-999999.9", "444444.4"],
]
BIG_DELTA = [["999999.9", "-777777.7"], ["123456.7", "654321.1"]]


def typed(grid: list[list[str]]) -> dict:
    """Every cell of ``grid`` as st.data_editor's edited rows."""
    return {r: {str(c + 1): v for c, v in enumerate(row)} for r, row in enumerate(grid)}


def test_big_numbers_agree_and_the_tolerance_is_shown():
    at = run_page(PAGE)
    edit(at, "x", edited=typed(BIG_X))
    edit(at, "delta", edited=typed(BIG_DELTA))
    no_problem(at)
    x, delta = np.array(BIG_X, dtype=float), np.array(BIG_DELTA, dtype=float)
    check = grad_check(x, SEED_W, delta)
    assert at.metric[0].value == tr("agree", diff=check.diff_w)
    assert at.metric[0].value.endswith("✓")
    r = check.rounding_w
    caption = tr("tolerance", verdict=tr("within"), tolerance=r.tolerance, terms=4, scale=r.scale)
    assert caption in [c.value for c in at.caption]
    assert "1.3e-03" in caption  # 4·ε·Σ|δ·X|, with Σ|δ·X| up to 1.48·10¹²
    for line in weight_grad_formulas(x, delta):
        assert line in latex(at)


def test_the_check_says_its_tolerance_for_the_lesson_too():
    at = run_page(PAGE)
    check = grad_check(SEED_X, SEED_W, SEED_DELTA)
    r = check.rounding_w
    caption = tr("tolerance", verdict=tr("within"), tolerance=r.tolerance, terms=4, scale=r.scale)
    assert caption in [c.value for c in at.caption]
    assert r.scale == 77  # Σ|δ·X| for ω4: 1·5 + 2·6 + 3·8 + 4·9
