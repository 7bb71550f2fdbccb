"""One session, several pages (issue 22, points 1 and 6): a student's settings and input
survive a round trip through other pages, and every page agrees on the one current digit.

A page is changed with AppTest.switch_page after a first run: it then asks app.py's
st.navigation for the page, as a click in the navigation does (sidebar included), and
Streamlit drops the widgets a run does not draw, as in a browser."""

from __future__ import annotations

import numpy as np
import pytest

import lenet.ui
from lenet.conv_grad import SEED_X
from lenet.i18n import translate
from lenet.pooling import SEED_EXAMPLE
from lenet.pooling_lab import GRADIENT_PRESETS
from lenet.preprocess import canvas_to_mnist
from lenet_testkit.apptest import run_page, texts
from lenet_testkit.digits import render

needs_a_model = pytest.mark.skipif(
    not (lenet.ui.models_dir() / lenet.ui.DEFAULT_CHECKPOINT).is_file(),
    reason="models/lenet5-classic.safetensors not trained yet",
)
needs_the_sample = pytest.mark.skipif(
    lenet.ui.sample() is None, reason="models/mnist-sample.npz not built yet"
)


def visit(at, page: str):
    """The same session goes to ``page`` (e.g. "draw"), as a click in the navigation."""
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def round_trip(at, page: str, via: str = "draw"):
    return visit(visit(at, via), page)


def no_widget_warning(at) -> None:
    """Nothing about the Session State API on screen (Streamlit's duplicate-value note)."""
    assert "Session State API" not in texts(at)


# --- point 6: the labs' settings --------------------------------------------------------------


def test_pooling_settings_survive_a_visit_to_another_page():
    at = run_page("pages/pooling.py")
    at.selectbox(key="pool_mode").set_value("avg").run()
    at.slider(key="pool_window").set_value(3).run()
    at.slider(key="pool_rows").set_value(6).run()
    at.slider(key="pool_dx").set_value(-2).run()
    at.radio(key="pool_grad_preset").set_value(GRADIENT_PRESETS[-1]).run()
    grid_key = f"pool_grid_{at.session_state['pool_generation']}"
    at.session_state[grid_key] = {
        "edited_rows": {5: {"1": "42"}},  # text cells, columns named from 1: as typed
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    before = {key: at.session_state[key] for key in ("pool_mode", "pool_window", "pool_rows")}
    assert before == {"pool_mode": "avg", "pool_window": 3, "pool_rows": 6}

    round_trip(at, "pooling")
    assert at.selectbox(key="pool_mode").value == "avg"
    assert at.slider(key="pool_window").value == 3
    assert at.slider(key="pool_rows").value == 6
    assert at.slider(key="pool_dx").value == -2
    assert at.radio(key="pool_grad_preset").value == GRADIENT_PRESETS[-1]
    from tests.test_page_pooling import heatmap

    x = heatmap(at, "pool_input_chart")[0]
    assert x.shape == (6, 4)
    np.testing.assert_array_equal(x[:4], SEED_EXAMPLE)
    assert x[5, 0] == 42 and not np.delete(x[4:].ravel(), 4).any()
    no_widget_warning(at)
    # and a second trip, through another lab, changes nothing
    round_trip(at, "pooling", via="kernel_gradient")
    np.testing.assert_array_equal(heatmap(at, "pool_input_chart")[0], x)
    assert at.selectbox(key="pool_mode").value == "avg"


def test_kernel_gradient_grids_and_controls_survive_a_visit_to_another_page():
    from tests.test_page_kernel_gradient import edit, latex

    at = run_page("pages/kernel_gradient.py")
    edit(at, "x", edited={0: {"1": "10"}})  # X1 = 10
    at.number_input(key="kg_bias").set_value(1.5).run()
    at.selectbox(key="kg_weight").set_value(3).run()
    at.slider(key="kg_size").set_value(8).run()
    at.number_input(key="kg_seed").set_value(7).run()
    shown = latex(at)
    assert any(line.endswith("+ 1.5 = 17.5") for line in shown)

    round_trip(at, "kernel_gradient")
    assert latex(at) == shown  # X1 = 10 and b = 1.5 in every formula, ω4 picked
    assert at.number_input(key="kg_bias").value == 1.5
    assert at.selectbox(key="kg_weight").value == 3
    assert at.slider(key="kg_size").value == 8
    assert at.number_input(key="kg_seed").value == 7
    no_widget_warning(at)
    # editing on after the trip applies each edit once, to the kept table
    edit(at, "x", edited={1: {"1": "40"}})  # X4 = 40
    assert latex(at)[0].endswith(
        "= 1\\cdot 10 + 0\\cdot 2 + (-1)\\cdot 40 + 2\\cdot 5 + 1.5 = -18.5"
    )
    # the lesson's reset still brings the lesson back
    at.button(key="kg_reset").click().run()
    assert latex(at)[0].endswith("= 1\\cdot 1 + 0\\cdot 2 + (-1)\\cdot 4 + 2\\cdot 5 = 7")
    assert int(SEED_X[0, 0]) == 1


def test_draw_settings_survive_a_visit_to_another_page(monkeypatch):
    monkeypatch.setattr(lenet.ui, "draw_canvas", lambda stroke_width, key, **kw: None)
    at = run_page("pages/draw.py")
    at.slider(key="stroke_width").set_value(33).run()
    round_trip(at, "draw", via="architecture")
    assert at.slider(key="stroke_width").value == 33


# --- point 1: one digit for the whole app -----------------------------------------------------


def canvas_returns(monkeypatch, image):
    monkeypatch.setattr(lenet.ui, "draw_canvas", lambda stroke_width, key, **kw: image)


def shown_prediction(at) -> str | None:
    values = [m.value for m in at.metric if m.proto.label.startswith("Prediction")]
    return values[0] if values else None


@needs_a_model
def test_the_drawing_and_its_prediction_are_there_after_a_visit_to_a_lab(monkeypatch):
    canvas_returns(monkeypatch, render(1))
    at = run_page("pages/draw.py")
    assert shown_prediction(at) == "1"
    # Back from a lab, the canvas is a new component that has sent nothing yet (None):
    # the page still shows the drawing's prediction, and the drawing is what the lab used.
    canvas_returns(monkeypatch, None)
    visit(at, "kernel_gradient")
    visit(at, "draw")
    assert shown_prediction(at) == "1"
    assert np.array_equal(at.session_state["digit"], canvas_to_mnist(render(1)))
    assert translate("draw.hint_blank", "en") not in texts(at)
    visit(at, "kernel_gradient")  # which says whose digit it analyses
    origin = translate("common.digit_from_canvas", "en")
    assert translate("common.digit_in_use", "en", origin=origin) in texts(at)


@needs_a_model
def test_emptying_the_canvas_clears_the_digit_every_page_uses(monkeypatch):
    canvas_returns(monkeypatch, render(7))
    at = run_page("pages/draw.py")
    assert shown_prediction(at) == "7"
    # the component's own reset (or undoing every stroke) sends an empty canvas
    canvas_returns(monkeypatch, np.zeros((280, 280, 4), np.uint8))
    at.run()
    assert shown_prediction(at) is None
    assert at.session_state["digit"] is None
    visit(at, "pooling")
    assert translate("pooling.draw_hint", "en") in [i.value for i in at.info]
    # ... and so does our Clear button, after which the canvas mounts blank
    canvas_returns(monkeypatch, render(7))
    visit(at, "draw")
    assert at.session_state["digit"] is not None
    canvas_returns(monkeypatch, None)  # the new canvas after a clear has sent nothing
    at.button(key="clear_canvas").click().run()
    assert shown_prediction(at) is None
    assert at.session_state["digit"] is None
    # the new canvas mounts without the old strokes, and nothing stands in for it
    assert at.session_state["kept_canvas_initial"] is None
    assert "kept_canvas_pixels" not in at.session_state


@needs_a_model
@needs_the_sample
def test_the_sample_source_and_digit_survive_a_visit_to_a_lab(monkeypatch):
    canvas_returns(monkeypatch, None)
    at = run_page("pages/draw.py")
    at.session_state["draw_source"] = "sample"  # as a click on "A real MNIST digit"
    at.run()
    index, shown = at.session_state["sample_index"], shown_prediction(at)
    sample = lenet.ui.sample()
    mnist_index, label = int(sample.indices[index]), int(sample.labels[index])
    visit(at, "pooling")
    visit(at, "draw")
    assert at.session_state["draw_source"] == "sample"
    assert at.session_state["sample_index"] == index and shown_prediction(at) == shown
    assert f"#{mnist_index}" in texts(at)
    no_widget_warning(at)
    visit(at, "pooling")  # which says whose digit it analyses
    origin = translate("common.digit_from_sample", "en", index=mnist_index, label=label)
    assert translate("common.digit_in_use", "en", origin=origin) in texts(at)


def png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@needs_a_model
def test_an_upload_survives_a_visit_to_a_lab_and_its_removal_clears_the_digit(monkeypatch):
    from tests.test_hostile import paper_digit

    canvas_returns(monkeypatch, None)
    at = run_page("pages/draw.py", draw_source="upload")
    at.file_uploader(key="upload").upload("my seven.png", png(paper_digit(7)), "image/png").run()
    assert shown_prediction(at) == "7"
    visit(at, "pooling")
    visit(at, "draw")  # the uploader is empty again; the photo is still read
    assert shown_prediction(at) == "7"
    assert translate("draw.upload_shown", "en", name="my seven.png") in texts(at)
    visit(at, "pooling")
    origin = translate("common.digit_from_upload", "en", name="my seven.png")
    assert translate("common.digit_in_use", "en", origin=origin) in texts(at)
    visit(at, "draw")
    at.file_uploader(key="upload").upload("x.png", png(paper_digit(1)), "image/png").run()
    at.file_uploader(key="upload").clear().run()  # the student removes the file
    assert shown_prediction(at) is None and at.session_state["digit"] is None


@needs_a_model
def test_a_photo_of_a_number_survives_a_visit_and_is_not_the_draw_pages(monkeypatch):
    """The reading page keeps its own upload: back from another page the number is read
    again, and the draw page's upload (a digit, not a number) is not touched by it."""
    from PIL import Image

    from lenet_testkit.digits import strip

    canvas_returns(monkeypatch, None)
    ink = strip([3, 1, 4], size=160, width=14, gap=30)[0][..., 0]
    photo = png(Image.fromarray(255 - ink))  # dark ink on white paper
    at = run_page("pages/read_number.py", rn_source="upload")
    at.file_uploader(key="rn_upload").upload("number.png", photo, "image/png").run()
    read = translate("read_number.read_label", "en", n=3)
    assert [m.value for m in at.metric if m.label == read] == ["314"]
    round_trip(at, "read_number")  # the uploader is empty again; the photo is still read
    assert [m.value for m in at.metric if m.label == read] == ["314"]
    assert translate("read_number.upload_shown", "en", name="number.png") in texts(at)
    visit(at, "draw")  # its own upload source shows its own hint, not this photo
    at.segmented_control(key="draw_source").set_value("upload").run()
    assert shown_prediction(at) is None and at.session_state["digit"] is None


@needs_a_model
def test_an_upload_without_a_digit_or_with_too_many_pixels_leaves_no_digit(monkeypatch):
    from PIL import Image

    canvas_returns(monkeypatch, render(3))
    at = run_page("pages/draw.py")
    assert at.session_state["digit"] is not None
    at.session_state["draw_source"] = "upload"
    at.run()
    rng = np.random.default_rng(0)
    blank = Image.fromarray((200 + rng.integers(-2, 3, (480, 640))).astype(np.uint8))
    at.file_uploader(key="upload").upload("paper.png", png(blank), "image/png").run()
    assert translate("draw.upload_no_ink", "en") in [w.value for w in at.warning]
    assert at.session_state["digit"] is None
    at.file_uploader(key="upload").upload("big.png", png(Image.new("L", (4000, 3001))), "image/png")
    at.run()
    (error,) = [e.value for e in at.error]
    assert "12,004,000" in error and "12,000,000" in error  # 4000 x 3001, and the limit


# --- the new pages use the same mechanism ---------------------------------------------------


@pytest.mark.parametrize(
    "page, settings",
    [
        ("invariance", {"inv_input": "sample", "inv_rotate": 30.0, "inv_sweep": "scale"}),
        ("explain", {"ex_input": "sample", "ex_patch": 6, "ex_target": 3}),
        ("read_number", {"rn_source": "upload", "rn_stroke_width": 12}),
        ("train", {"tr_preset": "modern", "tr_pooling": "avg", "tr_seed": 7}),
    ],
)
def test_the_new_pages_keep_their_settings(page, settings):
    at = run_page(f"pages/{page}.py")
    for key, value in settings.items():
        at.session_state[key] = value
        at.run()
    assert not at.exception
    round_trip(at, page)
    assert not at.exception
    assert {key: at.session_state[key] for key in settings} == settings
    no_widget_warning(at)
