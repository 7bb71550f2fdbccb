"""Draw a digit and watch LeNet-5 read it: prediction, preprocessing, every layer."""

import numpy as np
import streamlit as st

from lenet import describe, squashing, ui, viz
from lenet.inference import c1_kernels, predict, rbf_distances
from lenet.preprocess import UploadError, canvas_steps, open_upload, photo_steps
from lenet.prototypes import COLS, ROWS, paper_bitmaps

t = ui.t
SOURCES = ("canvas", "upload", "sample")

st.title(t("draw.title"))
st.markdown(t("draw.intro"))
model = ui.current_model()
ui.keep("draw_source", "stroke_width", "draw_squash")
source = st.segmented_control(
    t("draw.source"),
    SOURCES,
    format_func=lambda s: t(f"draw.source_{s}"),
    default="canvas",
    key="draw_source",
)


def show_steps(steps) -> None:
    """The four preprocessing steps as one element (each element redrawn costs the browser
    a few milliseconds with every stroke: issue 14)."""
    shown = {name: getattr(steps, name) for name in ("crop", "fit20", "centred28", "padded32")}
    box = st.container(key="steps")
    box.subheader(t("draw.steps_title"))
    box.image(
        [viz.thumbnail(image, 140) for image in shown.values()],
        width=140,
        caption=[t(f"draw.step_{n}", h=i.shape[0], w=i.shape[1]) for n, i in shown.items()],
        alt=[describe.step_image(n, i, t) for n, i in shown.items()],
        output_format="PNG",  # "auto" sends a JPEG, several times larger
    )


def show_empty_output() -> None:
    """Before the first stroke: where the answer will appear (no digit, every probability
    0) and C1's kernels, which need no drawing. Drawing these now also makes the browser
    load and prepare the chart code while the page opens, not on the first stroke."""
    left, right = st.columns([1, 2])
    left.metric(t("draw.predicted_none"), "—")
    ui.probabilities(right, np.zeros(10), key="probs_preview")
    kernel_col, _ = st.columns([1, 2])
    layer_image(kernel_col, "kernels", {}, c1_kernels(model))
    kernel_col.caption(t("draw.kernels_preview"))


def show_prediction(steps, origin: dict, true_label: int | None = None) -> None:
    if model is None:
        return
    result = predict(model, steps.centred28)
    ui.set_current_digit(steps.centred28, origin)
    left, right = st.columns([1, 2])
    with left, st.container(key="prediction"):
        st.metric(t("draw.predicted", confidence=result.confidence), str(result.digit))
        if true_label is not None:
            verdict = "draw.correct" if true_label == result.digit else "draw.wrong"
            st.markdown(t(verdict, label=true_label))
    ui.probabilities(right, result.probabilities, key="probs", true_label=true_label)
    show_steps(steps)
    show_layers(result.activations)


DEEPER_LAYERS = ("s2", "s4", "c5", "f6")


def layer_image(
    where, name: str, acts: dict[str, np.ndarray], kernels: np.ndarray, before: bool = False
) -> None:
    """A layer as one small image, its title above and a sentence under it that states
    what it shows (also the text alternative for a screen reader). ``before``: the
    weighted sums before the layer's squashing function, and a sentence comparing them."""
    shown = squashing.before_squashing(acts) if before else acts
    squash = squashing.squash_facts(model, name, acts) if before and name != "kernels" else None
    text = describe.layer(name, shown, kernels, t)
    if squash is not None:
        text = f"{t('draw.pre_prefix')} {text}"
    box = where.container(key=f"layer_{name}")
    box.markdown(f"**{t(f'draw.{name}_title')}**")
    if squash is None:  # C1's kernels come from a per-checkpoint cache
        image = ui.layer_png(name, shown, kernels)
    else:
        image = viz.layer_image(name, shown, kernels, signed=True)
    box.image(image, caption=text, alt=text, output_format="PNG")
    if before and name != "kernels":
        show_squashing(box, name, squash)


def show_squashing(where, name: str, squash: dict | None) -> None:
    """What the squashing function did to the layer's values; for the paper's trainable
    subsampling, its coefficient and bias per map."""
    if squash is None:
        where.caption(t("draw.squash_none", layer=name.upper()))
        return
    function = t(f"draw.fn_{squash['function']}")
    where.caption(t("draw.squash_sentence", **{**squash, "function": function}))
    coefficients = squashing.subsampling_coefficients(model, name)
    if coefficients:
        where.caption(t("draw.subsampling_caption", layer=name.upper()))
        columns = {c: t(f"draw.subsampling_{c}") for c in ("map", "coefficient", "bias")}
        where.dataframe(
            coefficients, column_config=columns, hide_index=True, key=f"draw_subsampling_{name}"
        )


def show_prototypes(where, acts: dict[str, np.ndarray]) -> None:
    """For an RBF output: F6 as a 7x12 picture beside the nearest of the paper's bitmaps
    and the ten distances, or what the network compares F6 with instead."""
    if model.config.output != "rbf":
        return
    if model.config.prototypes != "paper":
        where.caption(t("draw.prototypes_seeded"))
        return
    distances = rbf_distances(model, acts["f6"])
    nearest = int(np.argmin(distances))
    pictures = np.stack([acts["f6"].reshape(ROWS, COLS), paper_bitmaps()[nearest]])
    listed = ", ".join(f"{d}: {v:.1f}" for d, v in enumerate(distances))
    where.markdown(f"**{t('draw.prototypes_title')}**")
    text = t("draw.prototypes_alt", digit=nearest, distance=distances[nearest], listed=listed)
    where.image(viz.bitmaps_png(pictures, scale=14), caption=text, alt=text)


def show_values(acts: dict[str, np.ndarray], kernels: np.ndarray) -> None:
    """On request, one layer as a heatmap whose values can be read (hover or tap)."""
    if not st.toggle(t("draw.values_toggle"), key="draw_values"):
        return
    names = ("c1", "kernels", "c3", *DEEPER_LAYERS)
    name = st.selectbox(
        t("draw.values_layer"),
        names,
        format_func=lambda n: t(f"draw.{n}_title"),
        key="draw_values_layer",
    )
    ui.chart(st, viz.layer_figure(name, acts, kernels, t), key="values_chart")


def show_layers(acts: dict[str, np.ndarray]) -> None:
    kernels = c1_kernels(model)
    before = st.toggle(t("draw.squash_toggle"), key="draw_squash")
    c1_col, kernel_col = st.columns([3, 2])
    layer_image(c1_col, "c1", acts, kernels, before)
    layer_image(kernel_col, "kernels", acts, kernels)
    layer_image(st, "c3", acts, kernels, before)
    st.caption(t("draw.layers_hint"))
    # The open tab is remembered by layer (a plain key outlives the runs without tabs,
    # after a clear, and a language switch).
    names = {t(f"draw.tab_{name}"): name for name in DEEPER_LAYERS}

    def remember_tab() -> None:
        st.session_state["open_layer"] = names.get(st.session_state["layer_tab"], "s2")

    tabs = st.tabs(
        list(names),
        key="layer_tab",
        default=t(f"draw.tab_{st.session_state.get('open_layer', 's2')}"),
        on_change=remember_tab,
    )
    # Only the open tab's image is built and sent.
    for tab, name in zip(tabs, DEEPER_LAYERS, strict=True):
        if tab.open:
            layer_image(tab, name, acts, kernels, before)
            if name == "f6":
                show_prototypes(tab, acts)
    show_values(acts, kernels)


@st.fragment
def canvas_view() -> None:
    st.session_state.setdefault("canvas_generation", 0)
    controls, canvas_col = st.columns([1, 2])
    width = controls.slider(t("draw.stroke_width"), 6, 40, 20, key="stroke_width")
    if controls.button(t("draw.clear"), key="clear_canvas", icon=":material/delete:"):
        st.session_state["canvas_generation"] += 1  # a new, blank canvas
        ui.forget_drawing()
    choices = {name: t(f"draw.source_{name}") for name in ("upload", "sample")}
    controls.caption(t("describe.keyboard_draw", source=t("draw.source"), **choices))
    with canvas_col:
        drawing = ui.kept_canvas(width, key=f"canvas_{st.session_state['canvas_generation']}")
    steps = canvas_steps(drawing) if drawing is not None else None
    if steps is None:  # nothing drawn, or emptied with the canvas's own reset or undo
        ui.set_current_digit(None)
        st.info(t("draw.hint_blank"))
        show_empty_output()
        return
    show_prediction(steps, {"source": "canvas"})


def upload_view() -> None:
    upload = ui.kept_upload(t("draw.upload_label"), key="upload")
    if upload is None:
        ui.set_current_digit(None)
        st.info(t("draw.hint_upload"))
        return
    name, data = upload
    st.caption(t("draw.upload_shown", name=name))
    try:
        image, notes = open_upload(data)
    except UploadError as e:
        ui.set_current_digit(None)
        st.error(t(f"draw.upload_{e.reason}", **e.fields))
        return
    for note in notes:
        st.caption(t(f"draw.upload_note_{note}"))
    steps = photo_steps(image)
    if steps is None:
        ui.set_current_digit(None)
        st.warning(t("draw.upload_no_ink"))
        return
    show_prediction(steps, {"source": "upload", "name": name})


def sample_view() -> None:
    sample = ui.sample()
    if sample is None:
        st.warning(t("draw.sample_missing"))
        return
    pool = sample.random
    if (
        st.button(t("draw.sample_next"), key="sample_next", icon=":material/casino:")
        or "sample_index" not in st.session_state
    ):
        st.session_state["sample_index"] = int(np.random.default_rng().choice(pool))
    i = st.session_state["sample_index"] % len(sample.labels)
    st.caption(t("draw.sample_caption", index=int(sample.indices[i]), label=int(sample.labels[i])))
    steps = sample.steps(i)
    origin = {"source": "sample", "index": int(sample.indices[i]), "label": int(sample.labels[i])}
    show_prediction(steps, origin, true_label=int(sample.labels[i]))


if model is None:
    st.stop()
if source == "upload":
    upload_view()
elif source == "sample":
    sample_view()
else:
    canvas_view()
