"""The invariance lab: shift, rotate, scale, squeeze, shear, thicken, blur with noise or
occlude a digit and watch the prediction and C1/C3 hold or break; sweeps of one transform
for the three shipped networks, on this digit and on the sample's digits; equivariance of
C1 against the invariance of the deeper layers."""

import numpy as np
import streamlit as st

from lenet import describe, ui, viz
from lenet import invariance as inv
from lenet.inference import predict

t = ui.t
NETWORKS = {f.removeprefix("lenet5-").removesuffix(".safetensors"): f for f in ui.checkpoints()}


def shown(compute, *args, **kwargs):
    """compute(...), or None after showing on the page why the value cannot be used."""
    try:
        return compute(*args, **kwargs)
    except inv.TransformError as e:
        st.error(t(f"invariance.error_{e.reason}", **e.fields))
    return None


# The student's settings survive a visit to another page (lenet.ui.keep).
ui.keep(
    *(f"inv_{name}" for name in inv.TRANSFORMS),
    "inv_seed",
    "inv_occlude",
    "inv_occlude_top",
    "inv_occlude_left",
    "inv_occlude_size",
    "inv_sweep",
    "inv_eq_rows",
    "inv_eq_cols",
)


def reset() -> None:
    for name, spec in inv.TRANSFORMS.items():
        st.session_state[f"inv_{name}"] = int(spec.neutral) if spec.integer else spec.neutral
    st.session_state["inv_occlude"] = False


def slider(name: str):
    spec = inv.TRANSFORMS[name]
    kind = int if spec.integer else float
    return st.slider(
        t(f"invariance.control_{name}"),
        kind(spec.low),
        kind(spec.high),
        kind(spec.neutral),
        kind(spec.step),
        key=f"inv_{name}",
        help=t(f"invariance.help_{name}"),
        format="%d" if spec.integer else f"%.{spec.decimals}f",
    )


def controls() -> dict:
    """The transform sliders; the keyword arguments of inv.transform."""
    values = {name: slider(name) for name in inv.TRANSFORMS}
    seed = st.number_input(
        t("invariance.seed"), 0, 9999, 0, key="inv_seed", help=t("invariance.seed_help")
    )
    box = None
    if st.toggle(t("invariance.occlude"), key="inv_occlude", help=t("invariance.occlude_help")):
        top = st.slider(t("invariance.occlude_top"), 0, 27, 10, key="inv_occlude_top")
        left = st.slider(t("invariance.occlude_left"), 0, 27, 10, key="inv_occlude_left")
        size = st.slider(
            t("invariance.occlude_size"), 1, inv.MAX_OCCLUDE, 6, key="inv_occlude_size"
        )
        box = (top, left, size, size)
    st.button(t("invariance.reset"), key="inv_reset", icon=":material/restart_alt:", on_click=reset)
    shift = (values.pop("shift_rows"), values.pop("shift_cols"))
    return {"shift": shift, **values, "seed": int(seed), "occlude": box}


def maps_image(where, maps: np.ndarray, layer: str, cols: int, scale: int) -> None:
    caption = describe.feature_maps(layer, maps, t) + " " + t("invariance.maps_layout", cols=cols)
    ui.image(
        where, viz.maps_png(maps, cols=cols, scale=scale), output_format="PNG", caption=caption
    )


@st.fragment
def live(digit: np.ndarray, model) -> None:
    """The controls and everything they change: a slider reruns only this part."""
    controls_col, view_col = st.columns([1, 2], gap="large")
    with controls_col:
        kwargs = controls()
    moved = shown(inv.transform, digit, **kwargs)
    if moved is None:
        return
    result = predict(model, moved)
    with view_col:
        before, after, answer = st.columns(3)
        ui.image(before, viz.thumbnail(digit, 140), t("invariance.before"), width=140)
        ui.image(after, viz.thumbnail(moved, 140), t("invariance.after"), width=140)
        with answer, st.container(key="inv_prediction"):
            st.metric(t("invariance.predicted", confidence=result.confidence), str(result.digit))
        ui.probabilities(st, result.probabilities, key="inv_probs")
        c1_col, c3_col = st.columns([3, 4])
        c1, c3 = (t("invariance.of_transformed", layer=layer) for layer in ("C1", "C3"))
        maps_image(c1_col, result.activations["c1"], c1, cols=3, scale=3)
        maps_image(c3_col, result.activations["c3"], c3, cols=4, scale=6)


@st.cache_data(show_spinner=False, max_entries=16)
def class_accuracy(name: str, files: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The class sweep over the shipped sample's random test digits (cached per transform)."""
    sample = ui.sample()
    models = {label: m for label, f in zip(NETWORKS, files, strict=True) if (m := ui.model_for(f))}
    images, labels = sample.images[sample.random], sample.labels[sample.random]
    values = inv.TRANSFORMS[name].values(inv.CLASS_SWEEP_POINTS)
    return inv.class_sweep(models, images, labels, name, values)


def digit_sweep(digit: np.ndarray, name: str, models: dict) -> None:
    values = inv.TRANSFORMS[name].values()
    probs = {label: inv.sweep(model, digit, name, values) for label, model in models.items()}
    kept = {label: inv.kept_range(name, values, p) for label, p in probs.items()}
    ui.chart(
        st,
        viz.sweep_lines(
            values,
            {label: probs[label][:, k.digit] for label, k in kept.items()},
            title=t("invariance.sweep_title", transform=t(f"invariance.control_{name}")),
            x_label=t(f"invariance.control_{name}"),
            y_label=t("invariance.sweep_y"),
            hover={
                label: [t("invariance.winner", digit=w) for w in k.winners]
                for label, k in kept.items()
            },
            kept={
                label: (k.low, k.high, t("invariance.kept_bar", network=label, digit=k.digit))
                for label, k in kept.items()
            },
        ),
        key="inv_sweep_chart",
    )
    for label, k in kept.items():
        sentence = "invariance.kept_whole" if k.whole else "invariance.kept"
        low, high = inv.format_value(name, k.low), inv.format_value(name, k.high)
        st.markdown(t(sentence, network=label, digit=k.digit, low=low, high=high))


def sample_sweep(name: str, models: dict) -> None:
    st.subheader(t("invariance.class_title"))
    if ui.sample() is None:
        st.warning(t("common.lab_sample_missing"))
        return
    accuracy = class_accuracy(name, tuple(NETWORKS[label] for label in models))
    values = inv.TRANSFORMS[name].values(inv.CLASS_SWEEP_POINTS)
    count = len(ui.sample().random)
    ui.chart(
        st,
        viz.sweep_lines(
            values,
            accuracy,
            x_label=t(f"invariance.control_{name}"),
            title=t("invariance.class_chart", count=count),
            y_label=t("invariance.accuracy"),
        ),
        key="inv_class_chart",
    )
    for label, acc in accuracy.items():
        s = inv.accuracy_summary(name, values, acc)
        st.markdown(
            t(
                "invariance.class_summary",
                network=label,
                neutral=s.at_neutral,
                lowest=s.lowest,
                at=inv.format_value(name, s.lowest_at),
                count=count,
            )
        )


@st.fragment
def sweeps(digit: np.ndarray) -> None:
    st.header(t("invariance.sweep_header"))
    st.markdown(t("invariance.sweep_intro"))
    name = st.selectbox(
        t("invariance.sweep_transform"),
        list(inv.TRANSFORMS),
        index=2,
        format_func=lambda n: t(f"invariance.control_{n}"),
        key="inv_sweep",
    )
    models = {label: m for label, f in NETWORKS.items() if (m := ui.model_for(f)) is not None}
    if not models:
        st.warning(t("common.no_checkpoints"))
        return
    digit_sweep(digit, name, models)
    sample_sweep(name, models)


@st.fragment
def equivariance(digit: np.ndarray, model) -> None:
    st.header(t("invariance.eq_title"))
    st.markdown(t("invariance.eq_intro"))
    rows_col, cols_col = st.columns(2)
    dy = rows_col.slider(t("invariance.eq_rows"), -4, 4, 0, key="inv_eq_rows")
    dx = cols_col.slider(t("invariance.eq_cols"), -4, 4, 2, key="inv_eq_cols")
    e = shown(inv.equivariance, model, digit, (dy, dx))
    if e is None:
        return
    match_col, error_col = st.columns(2)
    match_col.metric(t("invariance.eq_correlation"), f"{e.correlation:.6f}")
    error_col.metric(t("invariance.eq_error"), f"{e.relative_error:.2e}")
    st.caption(t("invariance.eq_caption", correlation=e.correlation, error=e.relative_error))
    if e.ink_kept < 1:
        st.warning(t("invariance.eq_ink_lost", kept=e.ink_kept))
    shifted_col, moved_col = st.columns(2)
    maps_image(shifted_col, e.c1_of_shifted, t("invariance.eq_c1_of_shifted"), cols=3, scale=3)
    maps_image(moved_col, e.shifted_c1, t("invariance.eq_shifted_c1"), cols=3, scale=3)
    layers = [
        layer.upper() if layer != "output" else t("invariance.output") for layer in inv.LAYERS
    ]
    change = list(e.relative_change.values())
    ui.chart(
        st,
        viz.bars(
            layers,
            change,
            title=t("invariance.change_title"),
            x_label=t("invariance.layer"),
            y_label=t("invariance.change"),
        ),
        key="inv_change_chart",
    )
    listing = ", ".join(f"{layer} {v:.0%}" for layer, v in zip(layers, change, strict=True))
    st.caption(t("invariance.change_caption", listing=listing))


st.title(t("invariance.title"))
st.markdown(t("invariance.intro"))
digit = ui.lab_digit("inv")
digit = shown(inv.check_image, digit) if digit is not None else None
model = ui.current_model()
if digit is not None and model is not None:
    st.header(t("invariance.live_header"))
    live(digit, model)
    sweeps(digit)
    equivariance(digit, model)
st.markdown(t("invariance.pooling_text"))
st.page_link("pages/pooling.py", label=t("invariance.pooling_link"), icon=ui.PAGES["pooling"])
