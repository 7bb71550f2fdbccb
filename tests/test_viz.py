"""Figure builders: every figure passes plotly's full validation (the fast builders skip it
at run time), shows the data it was given, and the draw page's payload stays small."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from lenet import viz
from lenet.i18n import translate
from lenet.inference import c1_kernels, predict
from lenet.model import build_model
from lenet.preprocess import canvas_to_mnist
from lenet_testkit.digits import render

RNG = np.random.default_rng(0)


def validated(fig: go.Figure) -> go.Figure:
    go.Figure(fig.to_dict())  # raises on any invalid property
    return fig


def test_mosaic_places_each_map_and_marks_the_gaps():
    maps = RNG.random((5, 3, 4)).astype(np.float32)
    tiled, where = viz.mosaic(maps, cols=3)
    assert tiled.shape == (2 * 3 + 1, 3 * 4 + 2)
    for k in range(5):
        top, left = (k // 3) * 4, (k % 3) * 5
        assert np.array_equal(tiled[top : top + 3, left : left + 4], maps[k])
        assert (where[top : top + 3, left : left + 4] == k).all()
    assert np.isnan(tiled[3]).all() and (where[3] == -1).all()  # the gap row


@pytest.mark.parametrize("symmetric", [False, True])
def test_feature_maps_figure_is_valid_and_holds_the_maps(symmetric):
    maps = RNG.normal(size=(6, 28, 28)).astype(np.float32)
    fig = validated(
        viz.feature_maps(
            maps, cols=3, title="C1", map_label="map", value_label="value", symmetric=symmetric
        )
    )
    heatmap = fig.data[0]
    z = np.asarray(heatmap.z, dtype=np.float64)
    assert np.allclose(z[:28, :28], maps[0], atol=1e-3)
    assert np.nanmax(z) == pytest.approx(maps.max(), abs=1e-3)
    if symmetric:
        assert heatmap.zmin == -heatmap.zmax
    assert fig.layout.title.text == "C1"
    assert list(fig.data[1].text) == [str(k) for k in range(6)]


def test_feature_maps_rejects_wrong_shapes():
    with pytest.raises(ValueError):
        viz.feature_maps(np.zeros((28, 28)), cols=3, title="", map_label="", value_label="")


def test_vector_and_probabilities_are_valid():
    values = RNG.normal(size=120)
    fig = validated(viz.vector(values, cols=12, title="C5", value_label="v"))
    assert np.allclose(np.asarray(fig.data[0].z).ravel(), np.round(values, 3), atol=1e-3)
    probs = np.full(10, 0.05)
    probs[7] = 0.55
    fig = validated(viz.probabilities(probs, title="p", x_label="d", y_label="p", true_label=3))
    assert list(fig.data[0].marker.color).index(viz.HIGHLIGHT) == 7
    assert fig.layout.annotations[0].x == "3"


def test_matrix_and_curves_are_valid():
    validated(viz.matrix(RNG.random((4, 4)), title="m", highlight=[(0, 1)]))
    validated(viz.curves([1, 2], {"a": [0.1, 0.2]}, title="c", x_label="x", y_label="y"))


def test_draw_page_feature_map_payload_is_under_150_kb():
    """The bytes Streamlit sends for all seven layer figures of the draw page (a stroke
    sends four of them: the tabs draw only the open one). A size, not a timing."""
    model = build_model("classic").eval()
    acts = predict(model, canvas_to_mnist(render(7))).activations
    kernels = c1_kernels(model)
    figures = [viz.layer_figure(name, acts, kernels, english) for name in viz.LAYER_FIGURES]
    total = sum(len(pio.to_json(f.to_dict(), validate=False)) for f in figures)
    assert total <= 150_000, f"{total} bytes"


def english(key: str, **fields) -> str:
    return translate(key, "en", **fields)


@pytest.mark.parametrize("name", viz.LAYER_FIGURES)
def test_layer_figures_are_valid_and_show_their_layer(name):
    model = build_model("lecun1998").eval()
    acts = predict(model, canvas_to_mnist(render(3))).activations
    kernels = c1_kernels(model)
    fig = validated(viz.layer_figure(name, acts, kernels, english))
    assert fig.layout.title.text.replace("<br>", " ") == english(f"draw.{name}_title")
    z = np.asarray(fig.data[0].z, dtype=np.float64)
    values = kernels if name == "kernels" else acts[name]
    # every value of the layer is in the figure (rounded to 3 decimals), nothing else
    shown = np.sort(z[np.isfinite(z)].ravel())
    assert shown.size == values.size
    assert np.allclose(shown, np.sort(np.round(values.ravel(), 3)), atol=1e-3)


def test_layer_figure_rejects_an_unknown_name():
    model = build_model("classic").eval()
    acts = predict(model, canvas_to_mnist(render(3))).activations
    with pytest.raises(ValueError, match="unknown layer figure 'c4'"):
        viz.layer_figure("c4", acts, c1_kernels(model), english)


@pytest.mark.parametrize("shape", [(202, 151), (20, 15), (28, 28), (1, 1), (3, 40)])
def test_thumbnail_keeps_the_aspect_ratio_on_a_square(shape):
    image = np.full(shape, 255, dtype=np.uint8)
    thumb = viz.thumbnail(image, 140)
    assert thumb.shape == (140, 140)
    rows = np.flatnonzero(thumb.any(axis=1))
    cols = np.flatnonzero(thumb.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert max(height, width) == 140
    assert abs(height / width - shape[0] / shape[1]) < 0.2 * max(1, shape[0] / shape[1])


def test_layer_images_are_small_pngs_of_every_map():
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    acts = {
        "c1": rng.random((6, 28, 28)),
        "c3": rng.random((16, 10, 10)),
        "s2": rng.random((6, 14, 14)),
        "s4": rng.random((16, 5, 5)),
        "c5": rng.standard_normal(120),
        "f6": rng.standard_normal(84),
    }
    kernels = rng.standard_normal((6, 5, 5))
    for name in viz.LAYER_FIGURES:
        png = viz.layer_image(name, acts, kernels)
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.mode == "RGB"
        maps = viz.layer_maps(name, acts, kernels)
        scale = image.size[1] // (maps.shape[1] * 2 + 1) if len(maps) > 3 else None
        assert image.size[0] > maps.shape[2] and (scale is None or scale >= 1)
    with pytest.raises(ValueError):
        viz.layer_image("c7", acts, kernels)


def test_probabilities_image_marks_the_prediction_and_the_true_label():
    import io

    from PIL import Image

    def pixels(png):
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)

    def has(png, hex_colour):
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return bool((pixels(png) == rgb).all(axis=1).any())

    probs = np.full(10, 0.02)
    probs[6] = 0.82
    png = viz.probabilities_png(probs)
    assert has(png, viz.HIGHLIGHT) and has(png, viz.BAR)
    assert not has(viz.probabilities_png(np.zeros(10)), viz.HIGHLIGHT)  # nothing singled out
    marked = viz.probabilities_png(probs, true_label=2)
    assert (pixels(marked) != pixels(png)).any(axis=1).sum() > 20  # the triangle
    hatch = (pixels(png) == (0x6B, 0x47, 0x00)).all(axis=1).sum()
    assert hatch > 50  # the predicted bar is hatched, not only orange
    for bad in (np.zeros(9), np.full(10, np.nan)):
        with pytest.raises(ValueError):
            viz.probabilities_png(bad)


def test_sweep_lines_are_valid_and_mark_the_kept_ranges():
    x = np.linspace(-90, 90, 41)
    series = {name: RNG.random(41) for name in ("classic", "modern", "lecun1998")}
    kept = {"classic": (-35.0, 40.0, "classic keeps 7"), "modern": (-90.0, 90.0, "modern keeps 7")}
    hover = {name: [f"winner {d}" for d in RNG.integers(0, 10, 41)] for name in series}
    fig = validated(
        viz.sweep_lines(x, series, title="t", x_label="x", y_label="y", hover=hover, kept=kept)
    )
    lines = [tr for tr in fig.data if tr.showlegend is not False]
    assert [tr.name for tr in lines] == list(series)
    assert len({(tr.line.dash, tr.marker.symbol) for tr in lines}) == 3  # not by colour alone
    bars = [tr for tr in fig.data if tr.showlegend is False]
    labels = [a.text for a in fig.layout.annotations]
    assert [(tr.x[0], tr.x[-1], text) for tr, text in zip(bars, labels, strict=True)] == list(
        kept.values()
    )
    assert [tr.line.dash for tr in bars] == [tr.line.dash for tr in lines[:2]]
    assert max(tr.y[0] for tr in bars) < fig.layout.yaxis.range[1]


def test_the_predicted_digit_is_marked_by_more_than_colour():
    """WCAG 1.4.1: the predicted bar is hatched and named on the axis, not only orange."""
    probs = np.random.default_rng(3).dirichlet(np.ones(10))
    top = int(probs.argmax())
    fig = viz.probabilities(probs, title="t", x_label="d", y_label="p", predicted_label="read")
    shapes = fig.data[0].marker.pattern.shape
    assert [k for k, s in enumerate(shapes) if s] == [top]
    assert fig.layout.xaxis.ticktext[top].endswith("read")
    assert sum("read" in tick for tick in fig.layout.xaxis.ticktext) == 1
    empty = viz.probabilities(
        np.zeros(10), title="t", x_label="d", y_label="p", predicted_label="read"
    )
    assert not any(empty.data[0].marker.pattern.shape) and empty.layout.xaxis.ticktext is None


def test_signed_image_is_blue_below_white_at_and_red_above_zero():
    values = np.zeros((28, 28), np.float32)
    values[0, 0], values[0, 1] = -2.0, 2.0
    image = viz.signed_image(values, size=56)
    assert image.shape == (56, 56, 3) and image.dtype == np.uint8
    low, high, zero = image[0, 0].astype(int), image[0, 2].astype(int), image[0, 4].astype(int)
    assert low[2] > low[0] + 50 and high[0] > high[2] + 50  # blue, red
    assert zero.min() > 230  # white
    digit = np.zeros((28, 28), np.uint8)
    digit[0, 2] = 255  # the pixel shown at image column 4
    over = viz.signed_image(values, digit, size=56)
    assert over[0, 4].max() < zero.min() - 30  # ink shows darker under no colour
    np.testing.assert_array_equal(over[0, 0], image[0, 0])  # full colour where |v| = bound


def test_occlusion_map_marks_every_changed_place():
    probs = RNG.random((5, 5))
    changed = probs < 0.3
    answers = np.where(changed, 7, 3)
    fig = validated(
        viz.occlusion_map(
            probs,
            changed,
            answers,
            patch=8,
            stride=5,
            title="t",
            value_label="p",
            changed_label="changed",
            answer_label="answer",
        )
    )
    heat, contour, crosses = fig.data
    np.testing.assert_array_equal(heat.x, np.arange(5) * 5 + 3.5)  # patch centres
    assert len(crosses.x) == changed.sum() and crosses.marker.symbol == "x"
    assert set(crosses.customdata) == {7} and contour.contours.start == 0.5
    assert (
        len(
            validated(
                viz.occlusion_map(
                    probs,
                    probs < 0,
                    answers,
                    patch=8,
                    stride=5,
                    title="t",
                    value_label="p",
                    changed_label="c",
                    answer_label="a",
                )
            ).data
        )
        == 1
    )


def test_probability_path_labels_every_line():
    probs = RNG.dirichlet(np.ones(10), size=6)
    fig = validated(
        viz.probability_path(probs, original=3, target=8, title="t", x_label="x", y_label="y")
    )
    assert len(fig.data) == 10
    assert [trace.text[-1] for trace in fig.data] == [str(d) for d in range(10)]
    assert fig.data[8].line.dash == "dash" and fig.data[3].line.width == 3


def test_matrix_markdown_writes_every_value_and_marks_the_chosen_cells():
    values = np.array([[1.0, 2.5, 0.125], [-3.25, 1e-5, 12345.678]])
    lines = viz.matrix_markdown(values, highlight=[(1, 0), (5, 5)]).splitlines()
    assert lines[0] == "| | 0 | 1 | 2 |"  # columns numbered from 0
    assert lines[1] == "|---:|---:|---:|---:|"
    assert lines[2] == "| **0** | 1 | 2.5 | 0.125 |"
    # the chosen cell in bold between brackets (not by colour alone); off-grid ones ignored
    assert lines[3] == f"| **1** | {viz.mark_cell('-3.25')} | 1e-05 | 1.235e+04 |"
    assert viz.mark_cell("7") == ":orange-background[**[7]**]"
    labels = np.array([["X₁ = 1<br>→ P₁", "a|b"]], dtype=object)  # plotly's line break, a pipe
    (*_, row) = viz.matrix_markdown(np.zeros((1, 2)), labels=labels).splitlines()
    assert row == "| **0** | X₁ = 1 → P₁ | a\\|b |"
    for bad in (np.zeros(3), np.zeros((0, 2))):
        with pytest.raises(ValueError):
            viz.matrix_markdown(bad)


def test_long_chart_titles_are_wrapped_at_spaces():
    """Plotly never wraps a title: on a 390 px phone the screen's edge cut long ones off
    (the invariance lab's sweep, the fooling steps on the explanations page)."""
    text = "Probability of each network's answer, across Rotation (degrees, counter-clockwise)"
    title = viz.chart_title(text)
    lines = title["text"].split("<br>")
    assert len(lines) == 2 and all(len(line) <= viz.TITLE_LINE for line in lines)
    assert " ".join(lines) == text
    assert viz.chart_title("C1")["text"] == "C1"  # short titles stay on one line


def test_a_wrapped_title_gets_room_above_the_plot():
    import plotly.graph_objects as go

    text = "How much each layer's output changes when the digit is shifted"
    figure = go.Figure(layout={"title": viz.chart_title(text), "margin": {"t": 40}, "height": 300})
    fitted = viz.fit_title(figure)
    assert fitted.layout.margin.t == 40 + viz.TITLE_LINE_PX
    assert fitted.layout.height == 300 + viz.TITLE_LINE_PX
    assert figure.layout.margin.t == 40  # the figure given is left as it was (it may be cached)
    short = go.Figure(layout={"title": viz.chart_title("C1"), "margin": {"t": 40}})
    assert viz.fit_title(short) is short
