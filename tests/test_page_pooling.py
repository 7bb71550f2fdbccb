"""The pooling lab page (pages/pooling.py), run with AppTest: the seed example's numbers,
every control, invalid settings, the backward pass and "on your drawing"."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from lenet import ui
from lenet.checkpoint import load_checkpoint, models_dir
from lenet.formulas import pool_formula
from lenet.i18n import translate
from lenet.inference import predict
from lenet.pooling import (
    SEED_EXAMPLE,
    pool2d,
    pool2d_backward,
    pool_window_cells,
    shift_invariance,
)
from lenet.pooling_lab import trainable_subsampling
from lenet.preprocess import canvas_to_mnist
from lenet_testkit.apptest import run_page, table_outlined, table_values, texts
from lenet_testkit.digits import render

PAGE = "pages/pooling.py"


def decode(values) -> np.ndarray:
    """A plotly array from a figure's JSON: a list, or base64 bytes with dtype and shape."""
    if isinstance(values, dict):
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return flat.reshape([int(n) for n in values["shape"].split(",")])
    return np.asarray(values, dtype=np.float64)


def chart(at, key: str) -> dict:
    """The figure of the plotly chart with widget key ``key``."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r} on the page")


def heatmap(at, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, the labels written in the cells) of a lab matrix: a table
    (lenet.ui.matrix_table), or a viz.matrix chart (the maps of the digit drawn)."""
    if any(e.proto.id.endswith(f"-{key}") for e in at.get("plotly_chart")):
        trace = chart(at, key)["data"][0]
        return decode(trace["z"]), np.asarray(trace["text"])
    return table_values(at, key)


def as_shown(values) -> np.ndarray:
    """Values as a lab's table writes them (4 significant digits, lenet.viz.matrix_markdown)."""
    return np.vectorize(lambda v: float(f"{v:.4g}"))(np.asarray(values, dtype=np.float64))


def outlined(at, key: str) -> set[tuple[int, int]]:
    """The (row, col) cells outlined in a lab matrix's table."""
    return table_outlined(at, key)


def with_a_digit(digit: np.ndarray, lang: str = "en"):
    """The page with ``digit`` drawn, and the checkpoint chosen explicitly: after
    switch_page, AppTest's tree lacks app.py's sidebar, so reruns would forget the
    sidebar picker's choice. Skips when models/ holds no checkpoint."""
    names = ui.checkpoints()
    if not names:
        pytest.skip("no checkpoint in models/: 'on your drawing' needs a trained model")
    at = run_page(PAGE, lang, digit=digit, checkpoint=names[0])
    return at, load_checkpoint(models_dir() / names[0])


def ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def fresh(**state):
    """The page freshly opened (on the lesson's example), in English."""
    return run_page(PAGE, **state)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_runs_in_both_languages(lang):
    at = run_page(PAGE, lang)
    ok(at)
    assert at.title[0].value == translate("pooling.title", lang)
    headers = [h.value for h in at.header]
    for key in ("why_title", "lab_title", "backward_title", "drawing_title"):
        assert translate(f"pooling.{key}", lang) in headers
    shown = texts(at)
    assert translate("pooling.draw_hint", lang) in shown  # no digit drawn yet
    assert at.selectbox(key="pool_cell").value == (0, 0)


def test_the_seed_example_is_shown():
    at = fresh()
    ok(at)
    x, labels = heatmap(at, "pool_input_chart")
    np.testing.assert_array_equal(x, SEED_EXAMPLE)
    y, labels = heatmap(at, "pool_output_chart")
    np.testing.assert_array_equal(y, [[6, 8], [9, 6]])  # the lesson's max pooling result
    assert labels.tolist() == [["6", "8"], ["9", "6"]]
    assert at.latex[0].value.strip("$\n") == r"\max(1, 3, 5, 6) = 6"
    assert outlined(at, "pool_input_chart") == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert outlined(at, "pool_output_chart") == {(0, 0)}


def test_seed_numbers_for_max_avg_gap():
    at = fresh()
    lesson = {"max": [[6, 8], [9, 6]], "avg": [[3.75, 5.25], [4.5, 3.0]], "gap": [[4.125]]}
    for mode in ("avg", "gap", "max"):
        at.selectbox(key="pool_mode").set_value(mode).run()
        ok(at)
        expected = pool2d(SEED_EXAMPLE, 2, 2, mode)
        np.testing.assert_allclose(expected, lesson[mode])  # the lesson's own numbers
        y, labels = heatmap(at, "pool_output_chart")
        np.testing.assert_allclose(y, expected)
        assert labels.tolist() == [[f"{v:.4g}" for v in row] for row in expected]
        assert at.latex[0].value.strip("$\n") == pool_formula(SEED_EXAMPLE, 0, 0, 2, 2, mode)
        shown = texts(at)
        assert translate(f"pooling.mode_help_{mode}") in shown
        assert translate(f"pooling.backward_{mode}") in shown
        if mode == "gap":
            assert labels.tolist() == [["4.125"]] and r"{16} = 4.125" in at.latex[0].value
        if mode == "avg":
            assert labels.tolist() == [["3.75", "5.25"], ["4.5", "3"]]


def test_every_output_cell_has_its_window_and_formula():
    at = fresh()
    cell = at.selectbox(key="pool_cell")
    assert cell.options == [
        translate("pooling.cell_option", row=i, col=j) for i in (0, 1) for j in (0, 1)
    ]
    for i, j in [(0, 1), (1, 0), (1, 1), (0, 0)]:
        at.selectbox(key="pool_cell").set_value((i, j)).run()
        ok(at)
        assert at.latex[0].value.strip("$\n") == pool_formula(SEED_EXAMPLE, i, j, 2, 2, "max")
        window = set(pool_window_cells((4, 4), i, j, 2, 2))
        assert outlined(at, "pool_input_chart") == window
        assert outlined(at, "pool_output_chart") == {(i, j)}
        assert outlined(at, "pool_grad_chart") == window


def test_lp_and_its_p_slider():
    at = fresh()
    at.selectbox(key="pool_mode").set_value("lp").run()
    ok(at)
    np.testing.assert_array_equal(
        heatmap(at, "pool_output_chart")[0], as_shown(pool2d(SEED_EXAMPLE, 2, 2, "lp", 2.0))
    )
    at.slider(key="pool_p").set_value(1.0).run()
    ok(at)
    y = heatmap(at, "pool_output_chart")[0]
    np.testing.assert_allclose(y, [[15, 21], [18, 12]])  # p = 1: window sums
    at.slider(key="pool_p").set_value(30.0).run()
    y = heatmap(at, "pool_output_chart")[0]
    np.testing.assert_array_equal(y, as_shown(pool2d(SEED_EXAMPLE, 2, 2, "lp", 30.0)))
    assert np.all(y >= [[6, 8], [9, 6]]) and np.all(y < np.array([[6, 8], [9, 6]]) * 1.05)


def test_stochastic_is_seeded_and_reproducible():
    at = fresh()
    at.selectbox(key="pool_mode").set_value("stochastic").run()
    ok(at)
    for seed in (0, 5):
        at.number_input(key="pool_seed").set_value(seed).run()
        ok(at)
        rng = np.random.default_rng(seed)
        expected = pool2d(SEED_EXAMPLE, 2, 2, "stochastic", rng=rng)
        np.testing.assert_array_equal(heatmap(at, "pool_output_chart")[0], expected)
        at.run()  # a rerun draws the same cells
        np.testing.assert_array_equal(heatmap(at, "pool_output_chart")[0], expected)
        grad = heatmap(at, "pool_grad_chart")[0]
        rng = np.random.default_rng(seed)
        np.testing.assert_array_equal(
            grad, pool2d_backward(SEED_EXAMPLE, np.ones((2, 2)), 2, 2, "stochastic", rng=rng)
        )


CONTROLS = [  # (widget kind, key, value); each is changed once from the lesson's example
    ("slider", "pool_window", 3),
    ("slider", "pool_window", 1),
    ("number_input", "pool_stride", 1),
    ("number_input", "pool_stride", 3),
    ("slider", "pool_rows", 8),
    ("slider", "pool_cols", 2),
    ("button", "pool_random", None),
    ("button", "pool_reset", None),
    ("slider", "pool_dy", -2),
    ("slider", "pool_dx", 0),
    ("radio", "pool_grad_preset", "counting"),
    ("selectbox", "pool_cell", (1, 1)),
    ("selectbox", "pool_mode", "avg"),
    ("selectbox", "pool_mode", "gap"),
    ("selectbox", "pool_mode", "lp"),
    ("selectbox", "pool_mode", "stochastic"),
]


def test_each_control_reruns_cleanly():
    at = fresh()
    for kind, key, value in CONTROLS:
        widget = getattr(at, kind)(key=key)
        (widget.click() if kind == "button" else widget.set_value(value)).run()
        ok(at)
        if kind != "button":
            assert getattr(at, kind)(key=key).value == value, key
        assert heatmap(at, "pool_output_chart")[0].size and heatmap(at, "pool_grad_chart")[0].size
    at.run()  # and once more, with the state they left
    ok(at)


def test_settings_change_the_numbers():
    at = fresh()
    at.slider(key="pool_window").set_value(3).run()
    at.number_input(key="pool_stride").set_value(1).run()
    ok(at)
    np.testing.assert_array_equal(
        heatmap(at, "pool_output_chart")[0], pool2d(SEED_EXAMPLE, 3, 1, "max")
    )
    metric = next(m for m in at.metric if m.label == translate("pooling.grid_cells_label"))
    assert metric.value == translate("pooling.grid_cells_value", before=16, after=4)


def test_resize_random_and_reset():
    at = fresh()
    at.slider(key="pool_rows").set_value(6).run()
    ok(at)
    x = heatmap(at, "pool_input_chart")[0]
    assert x.shape == (6, 4)
    np.testing.assert_array_equal(x[:4], SEED_EXAMPLE)
    assert not x[4:].any()  # new rows are zeros
    np.testing.assert_array_equal(heatmap(at, "pool_output_chart")[0], pool2d(x, 2, 2, "max"))

    at.button(key="pool_random").click().run()
    ok(at)
    x = heatmap(at, "pool_input_chart")[0]
    assert x.shape == (6, 4) and np.all((x >= 0) & (x <= 9)) and np.all(x == np.round(x))
    np.testing.assert_array_equal(heatmap(at, "pool_output_chart")[0], pool2d(x, 2, 2, "max"))

    at.slider(key="pool_window").set_value(3).run()
    at.button(key="pool_reset").click().run()
    ok(at)
    np.testing.assert_array_equal(heatmap(at, "pool_input_chart")[0], SEED_EXAMPLE)
    assert at.slider(key="pool_window").value == 2 and at.number_input(key="pool_stride").value == 2
    np.testing.assert_array_equal(heatmap(at, "pool_output_chart")[0], [[6, 8], [9, 6]])


@pytest.mark.parametrize(
    ("control", "value", "message"),
    [
        ("pool_window", 5, translate("pooling.error_window_too_large", kernel=5, rows=4, cols=4)),
        ("pool_stride", 0, translate("pooling.error_stride_too_small", stride=0)),
    ],
)
def test_invalid_settings_show_an_error_and_the_page_stays_usable(control, value, message):
    at = fresh()
    widget = at.slider(key=control) if control == "pool_window" else at.number_input(key=control)
    widget.set_value(value).run()
    assert not at.exception
    assert message in [e.value for e in at.error]
    assert translate("pooling.drawing_title") in [h.value for h in at.header]  # the rest still runs
    widget = at.slider(key=control) if control == "pool_window" else at.number_input(key=control)
    widget.set_value(2).run()
    ok(at)
    np.testing.assert_array_equal(heatmap(at, "pool_output_chart")[0], [[6, 8], [9, 6]])


def test_stochastic_refuses_negative_values():
    digit = canvas_to_mnist(render(7))
    at, model = with_a_digit(digit)
    at.selectbox(key="pool_mode").set_value("stochastic").run()
    assert not at.exception
    c1 = predict(model, digit).activations["c1"][0]
    errors = [e.value for e in at.error]
    if c1.min() < 0:  # tanh maps (classic, lecun1998) go below zero
        assert any(
            translate("pooling.error_negative_stochastic", value="")[:30] in e for e in errors
        )
    else:
        assert not errors


def test_shift_shows_the_fraction_of_unchanged_cells():
    at = fresh()
    for mode in ("max", "avg"):
        at.selectbox(key="pool_mode").set_value(mode).run()
        for dy, dx in [(0, 1), (1, 0), (2, 2), (0, 0), (-1, -2)]:
            at.slider(key="pool_dy").set_value(dy)
            at.slider(key="pool_dx").set_value(dx).run()
            ok(at)
            fraction = shift_invariance(SEED_EXAMPLE, 2, 2, mode, dy, dx)
            metric = next(m for m in at.metric if m.label == translate("pooling.shift_unchanged"))
            assert metric.value == translate("pooling.shift_unchanged_value", fraction=fraction)
            shifted = heatmap(at, "pool_shift_input")[0]
            after = heatmap(at, "pool_shift_after")[0]
            np.testing.assert_allclose(after, pool2d(shifted, 2, 2, mode))
            before = pool2d(SEED_EXAMPLE, 2, 2, mode)
            changed = {(int(i), int(j)) for i, j in np.argwhere(~np.isclose(after, before))}
            assert outlined(at, "pool_shift_after") == changed
    assert metric.value == "0%"  # avg, shifted by (-1, -2): every output cell changes


def test_the_reasons_show_lenet_numbers():
    at = fresh()
    values = {m.label: m.value for m in at.metric}
    assert values[translate("pooling.s2_cells_label")] == "4,704 → 1,176"
    assert values[translate("pooling.dense_label", units=120)] == "564,600 → 141,240"
    assert values[translate("pooling.grid_cells_label")] == "16 → 4"


def test_backward_pass():
    at = fresh()
    for preset in ("ones", "counting"):
        at.radio(key="pool_grad_preset").set_value(preset)
        for mode in ("max", "avg", "gap", "lp"):
            at.selectbox(key="pool_mode").set_value(mode).run()
            ok(at)
            shape = (1, 1) if mode == "gap" else (2, 2)
            upstream = np.ones(shape) if preset == "ones" else np.arange(1.0, 5.0)[: np.prod(shape)]
            expected = pool2d_backward(SEED_EXAMPLE, upstream.reshape(shape), 2, 2, mode)
            np.testing.assert_array_equal(heatmap(at, "pool_grad_chart")[0], as_shown(expected))
            assert translate(f"pooling.backward_{mode}") in [i.value for i in at.info]
    at.selectbox(key="pool_mode").set_value("max").run()
    grad = heatmap(at, "pool_grad_chart")[0]  # each gradient lands on its window's maximum
    np.testing.assert_array_equal(grad, [[0, 0, 0, 0], [0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 0, 4]])


def test_without_a_digit_the_page_points_to_the_draw_page():
    at = fresh()
    ok(at)
    assert translate("pooling.draw_hint") in [i.value for i in at.info]
    link = at.get("page_link")[0].proto
    assert link.label == translate("pooling.draw_link") and "draw" in link.page


def test_on_your_drawing():
    digit = canvas_to_mnist(render(3))
    assert digit is not None and digit.shape == (28, 28)
    at, model = with_a_digit(digit)
    ok(at)
    acts = predict(model, digit).activations
    s2_text = translate(f"pooling.s2_{model.config.pooling}", variant=model.config.variant)
    assert s2_text in texts(at)
    for k in (4, 0):
        at.selectbox(key="pool_map").set_value(k).run()
        ok(at)
        for key, expected in [
            ("pool_c1_chart", acts["c1"][k]),
            ("pool_s2_chart", acts["s2"][k]),
            ("pool_yours_chart", pool2d(acts["c1"][k], 2, 2, "max")),
        ]:
            np.testing.assert_allclose(heatmap(at, key)[0], expected, rtol=1e-6, atol=1e-6)
    coefficients = trainable_subsampling(model, 0)
    if coefficients is None:  # average or max pooling: the same pooling gives S2 exactly
        at.selectbox(key="pool_mode").set_value(model.config.pooling).run()
        ok(at)
        metric = next(m for m in at.metric if m.label == translate("pooling.difference"))
        assert float(metric.value) < 1e-5
    else:  # the paper's trainable subsampling: its coefficient and bias are shown
        coef, bias = coefficients
        assert translate("pooling.s2_coefficients", k=0, coef=coef, bias=bias) in texts(at)
    at.slider(key="pool_window").set_value(3).run()  # other shapes: no cell-by-cell comparison
    ok(at)
    assert translate("pooling.difference_shapes", yours="13×13", net="14×14") in texts(at)


def test_on_your_drawing_in_chinese():
    # AppTest reruns cannot change a selectbox here: it formats the options outside the
    # script, in English. The first run is checked.
    at, model = with_a_digit(canvas_to_mnist(render(7)), "zh")
    ok(at)
    assert translate("pooling.drawing_title", "zh") in [h.value for h in at.header]
    shown = texts(at)
    assert (
        translate(f"pooling.s2_{model.config.pooling}", "zh", variant=model.config.variant) in shown
    )
    for key in ("pool_c1_chart", "pool_yours_chart", "pool_s2_chart"):
        assert chart(at, key)


# --- what is typed into the grid (issue 22.3) ----------------------------------------------------


def type_into_grid(at, cells: dict[tuple[int, int], str]):
    """Seed the input grid's edit state (rows and columns from 0), as the browser sends it
    after a student typed into those cells, then rerun."""
    rows: dict[int, dict[str, str]] = {}
    for (r, c), text in cells.items():
        rows.setdefault(r, {})[str(c + 1)] = text
    at.session_state["pool_grid_1"] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def test_scientific_notation_is_pooled_as_typed():
    at = type_into_grid(fresh(), {(0, 0): "1e-3", (0, 1): "2.5e2"})
    ok(at)
    x = heatmap(at, "pool_input_chart")[0]
    assert x[0, 0] == 0.001 and x[0, 1] == 250
    assert at.latex[0].value.strip("$\n") == r"\max(0.001, 250, 5, 6) = 250"
    at = type_into_grid(at, {(0, 0): "1e-3", (0, 1): "2.5e2", (1, 1): "1e7"})
    name = translate("pooling.name_input")
    assert [e.value for e in at.error] == [
        translate("grid.error_too_large", name=name, value="1e7", row=2, col=2, limit=10**6)
    ]


def test_text_in_a_cell_is_named_not_called_empty():
    at = type_into_grid(fresh(), {(1, 2): "abc"})
    (error,) = [e.value for e in at.error]
    assert "abc" in error
    name = translate("pooling.name_input")
    assert error == translate("grid.error_not_a_number", name=name, value="abc", row=2, col=3)


@pytest.mark.parametrize("text", ["abc", "", "nan", "1e9", "1,5", "1e-3x", "-inf"])
def test_both_labs_say_the_same_about_the_same_cell(text):
    pool = [e.value for e in type_into_grid(fresh(), {(0, 0): text}).error]
    kg = run_page("pages/kernel_gradient.py")
    edits = {"edited_rows": {0: {"1": text}}, "added_rows": [], "deleted_rows": []}
    kg.session_state["kg_x_0"] = edits
    kg = [e.value for e in kg.run().error]
    pool_name = translate("pooling.name_input")
    kg_name = translate("kernel_gradient.name_x")
    assert len(pool) == len(kg) == 1
    assert pool[0].startswith(pool_name) and kg[0].startswith(kg_name)
    assert pool[0].removeprefix(pool_name) == kg[0].removeprefix(kg_name)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_chart_states_its_numbers_in_words(lang):
    """WCAG 1.1.1: each chart has a sentence under it; the lesson's grid says its size,
    range and where its largest value is."""
    from lenet import describe
    from lenet.i18n import translate as tr

    at = run_page("pages/pooling.py", lang)
    assert not at.exception
    text = lambda key, **f: tr(key, lang, **f)  # noqa: E731
    title = text("pooling.input_heatmap", h=4, w=4)
    captions = [c.value for c in at.caption]
    assert describe.matrix(SEED_EXAMPLE, title, text) in captions
    marker = {"en": " values from ", "zh": "个数值"}[lang]
    tables = sum("|---:" in m.value for m in at.markdown)  # lenet.viz.matrix_markdown
    shown = len(at.get("plotly_chart")) + tables
    assert sum(marker in c for c in captions) >= shown > 0
