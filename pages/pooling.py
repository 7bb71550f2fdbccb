"""The pooling lab: why subsample, the lesson's 4x4 example in five pooling modes (editable),
the backward pass, and the same pooling on the C1 maps of the digit drawn on the draw page."""

import numpy as np
import streamlit as st

from lenet import describe, ui, viz
from lenet.architecture import format_shape
from lenet.grids import GridError, editor_table, parse_grid
from lenet.inference import predict
from lenet.pooling import POOL_MODES, SEED_EXAMPLE
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

t = ui.t
LESSON = PoolSettings()  # the lesson's 2x2 windows, stride 2
BASE, GENERATION, LAST_GRID = "pool_base", "pool_generation", "pool_last_grid"  # not widgets
SHIFT = 2  # the shift sliders go from -SHIFT to SHIFT pixels
LESSON_CONTROLS = {
    "pool_rows": SEED_EXAMPLE.shape[0],
    "pool_cols": SEED_EXAMPLE.shape[1],
    "pool_window": LESSON.kernel,
    "pool_stride": LESSON.stride,
}


def shown(compute, *args, **kwargs):
    """compute(*args, **kwargs), or None after showing on the page why the input cannot be used."""
    try:
        return compute(*args, **kwargs)
    except GridError as e:
        st.error(t(f"grid.error_{e.reason}", **e.fields))
    except PoolingInputError as e:
        st.error(t(f"pooling.error_{e.reason}", **e.fields))
    except ValueError as e:
        st.error(t("common.invalid_input", error=str(e)))
    return None


def new_grid(grid: np.ndarray) -> None:
    st.session_state[BASE] = grid
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1  # a fresh editor


def reset_to_lesson() -> None:
    new_grid(SEED_EXAMPLE.astype(float))
    st.session_state.update(LESSON_CONTROLS)


def heatmap(values, title: str, key: str, **kwargs) -> None:
    """A small matrix with its numbers written in its cells (a light table)."""
    ui.matrix_table(st, values, title, key, describe.matrix(values, title, t), **kwargs)


def feature_map(values, title: str, key: str) -> None:
    """A 28x28 or 14x14 map, without a number written in every cell (hover shows them)."""
    figure = viz.matrix(
        values, title=title, labels=np.full(values.shape, ""), colorscale=viz.SEQUENTIAL, height=340
    )
    ui.chart(st, figure, key=key)
    st.caption(describe.matrix(values, title, t))


def controls() -> PoolSettings:
    mode = st.selectbox(
        t("pooling.mode"), POOL_MODES, format_func=lambda m: t(f"pooling.mode_{m}"), key="pool_mode"
    )
    st.caption(t(f"pooling.mode_help_{mode}"))
    kernel = st.slider(t("pooling.window"), 1, MAX_GRID, key="pool_window", disabled=mode == "gap")
    stride = st.number_input(
        t("pooling.stride"),
        0,
        MAX_GRID,
        key="pool_stride",
        help=t("pooling.stride_help"),
        disabled=mode == "gap",
    )
    p, seed = LESSON.p, LESSON.seed
    if mode == "lp":
        p = st.slider(t("pooling.p"), 1.0, 30.0, p, 0.5, key="pool_p", help=t("pooling.p_help"))
    if mode == "stochastic":
        seed = st.number_input(
            t("pooling.seed"), 0, 9999, seed, key="pool_seed", help=t("pooling.seed_help")
        )
    return PoolSettings(mode, int(kernel), int(stride), float(p), int(seed))


def input_grid():
    """The size sliders, the random and reset buttons and the editable grid; its raw value."""
    rows_col, cols_col = st.columns(2)
    rows = rows_col.slider(t("pooling.rows"), 1, MAX_GRID, key="pool_rows")
    cols = cols_col.slider(t("pooling.cols"), 1, MAX_GRID, key="pool_cols")
    if st.session_state[BASE].shape != (rows, cols):
        new_grid(resize_grid(st.session_state.get(LAST_GRID, st.session_state[BASE]), rows, cols))
    random_col, reset_col = st.columns(2)
    random_col.button(
        t("pooling.random"),
        key="pool_random",
        icon=":material/casino:",
        width="stretch",
        on_click=lambda: new_grid(random_grid(rows, cols)),
    )
    reset_col.button(
        t("pooling.reset"),
        key="pool_reset",
        icon=":material/restart_alt:",
        width="stretch",
        on_click=reset_to_lesson,
    )
    edited = ui.kept_data_editor(
        st, editor_table(st.session_state[BASE]), key=f"pool_grid_{st.session_state[GENERATION]}"
    )
    st.caption(t("pooling.editor_caption", limit=MAX_GRID))
    return edited


def forward_view(settings: PoolSettings, x: np.ndarray, y: np.ndarray) -> list[tuple[int, int]]:
    """Input and output side by side, one output cell's window and formula; that window."""
    cells = settings.output_cells(x.shape)
    if st.session_state.get("pool_cell") not in cells:
        st.session_state["pool_cell"] = cells[0]
    in_col, out_col = st.columns([x.shape[1], max(y.shape[1], 2)])
    cell_col, formula_col = st.columns([1, 3], gap="large")
    i, j = cell_col.selectbox(
        t("pooling.cell"),
        cells,
        key="pool_cell",
        format_func=lambda c: t("pooling.cell_option", row=c[0], col=c[1]),
    )
    window = settings.window_cells(x.shape, i, j)
    with in_col:
        heatmap(
            x,
            t("pooling.input_heatmap", h=x.shape[0], w=x.shape[1]),
            "pool_input_chart",
            highlight=window,
        )
    with out_col:
        heatmap(
            y,
            t("pooling.output_heatmap", h=y.shape[0], w=y.shape[1]),
            "pool_output_chart",
            highlight=[(i, j)],
        )
    formula_col.markdown(t("pooling.formula_caption", row=i, col=j))
    formula_col.latex(settings.formula(x, i, j))
    return window


def why_subsample(settings: PoolSettings, x: np.ndarray | None, pooled: bool) -> None:
    """The lesson's three reasons, each with its numbers (``pooled``: x pools cleanly)."""
    st.header(t("pooling.why_title"))
    s2 = lenet_s2_reduction().fields()
    data_col, fit_col = st.columns(2, gap="large")
    with data_col:
        st.markdown(t("pooling.why_data"))
        st.metric(t("pooling.s2_cells_label"), t("pooling.s2_cells_value", **s2))
        st.caption(t("pooling.s2_cells_caption", **s2))
        if pooled:
            grid = settings.reduction(x.shape)
            st.metric(t("pooling.grid_cells_label"), t("pooling.grid_cells_value", **vars(grid)))
            st.caption(t("pooling.grid_cells_caption", factor=grid.factor))
    with fit_col:
        st.markdown(t("pooling.why_overfit"))
        st.metric(t("pooling.dense_label", **s2), t("pooling.params_value", **s2))
        st.caption(t("pooling.dense_caption", **s2))
    st.markdown(t("pooling.why_shift"))
    slider_col, shifted_col, before_col, after_col = st.columns([2, 2, 1.3, 1.3])
    dy = slider_col.slider(t("pooling.shift_dy"), -SHIFT, SHIFT, 0, key="pool_dy")
    dx = slider_col.slider(t("pooling.shift_dx"), -SHIFT, SHIFT, 1, key="pool_dx")
    demo = shown(settings.shift, x, dy, dx) if pooled else None
    if demo is None:
        return
    slider_col.metric(
        t("pooling.shift_unchanged"), t("pooling.shift_unchanged_value", fraction=demo.fraction)
    )
    slider_col.caption(
        t(
            "pooling.shift_unchanged_caption",
            unchanged=demo.unchanged_count,
            total=demo.unchanged.size,
        )
    )
    with shifted_col:
        heatmap(demo.shifted, t("pooling.shift_input_title"), "pool_shift_input")
    with before_col:
        heatmap(demo.before, t("pooling.shift_before_title"), "pool_shift_before")
    with after_col:
        heatmap(
            demo.after,
            t("pooling.shift_after_title"),
            "pool_shift_after",
            highlight=demo.changed_cells,
        )
        st.caption(t("pooling.shift_changed_caption"))


def backward_view(settings: PoolSettings, x, y, window) -> None:
    grad_col, dx_col = st.columns(2, gap="large")
    with grad_col:
        preset = st.radio(
            t("pooling.grad_preset"),
            GRADIENT_PRESETS,
            horizontal=True,
            format_func=lambda g: t(f"pooling.grad_{g}"),
            key="pool_grad_preset",
        )
        key = f"pool_upstream_{preset}_{y.shape[0]}x{y.shape[1]}_{st.session_state[GENERATION]}"
        upstream = ui.kept_data_editor(st, editor_table(upstream_grid(y.shape, preset)), key=key)
        st.caption(t("pooling.grad_caption"))
    grad = shown(parse_grid, upstream, t("pooling.name_upstream"), max_size=MAX_GRID)
    dx = shown(settings.backward, x, grad) if grad is not None else None
    if dx is not None:
        with dx_col:
            heatmap(
                dx,
                t("pooling.grad_heatmap", h=x.shape[0], w=x.shape[1]),
                "pool_grad_chart",
                highlight=window,
            )


def drawing_view(settings: PoolSettings, model, digit: np.ndarray) -> None:
    acts = predict(model, digit).activations
    pick_col, text_col, diff_col = st.columns([1, 3, 1], gap="large")
    k = pick_col.selectbox(
        t("pooling.map"),
        range(acts["c1"].shape[0]),
        key="pool_map",
        format_func=lambda k: t("pooling.map_option", k=k),
    )
    c1, s2 = acts["c1"][k], acts["s2"][k]
    text_col.markdown(t(f"pooling.s2_{model.config.pooling}", variant=model.config.variant))
    coefficients = trainable_subsampling(model, k)
    if coefficients is not None:
        text_col.caption(
            t("pooling.s2_coefficients", k=k, coef=coefficients[0], bias=coefficients[1])
        )
    yours = shown(settings.forward, c1)
    c1_col, yours_col, s2_col = st.columns(3)
    with c1_col:
        feature_map(c1, t("pooling.c1_title", k=k, shape=format_shape(c1.shape)), "pool_c1_chart")
    with s2_col:
        feature_map(
            s2, t("pooling.net_s2_title", k=k, shape=format_shape(s2.shape)), "pool_s2_chart"
        )
    if yours is None:
        return
    with yours_col:
        feature_map(
            yours, t("pooling.yours_title", shape=format_shape(yours.shape)), "pool_yours_chart"
        )
    diff = max_difference(yours, s2)
    if diff is None:
        diff_col.caption(
            t(
                "pooling.difference_shapes",
                yours=format_shape(yours.shape),
                net=format_shape(s2.shape),
            )
        )
    else:
        diff_col.metric(t("pooling.difference"), t("pooling.difference_value", diff=diff))


if BASE not in st.session_state:
    new_grid(SEED_EXAMPLE.astype(float))
ui.keep(
    "pool_mode",
    "pool_window",
    "pool_stride",
    "pool_p",
    "pool_seed",
    "pool_rows",
    "pool_cols",
    "pool_cell",
    "pool_dy",
    "pool_dx",
    "pool_grad_preset",
    "pool_map",
)
for control, value in LESSON_CONTROLS.items():  # on the first visit
    st.session_state.setdefault(control, value)

st.title(t("pooling.title"))
st.markdown(t("pooling.intro"))
why = st.container()  # the three reasons open the page; filled once the grid has been read

st.header(t("pooling.lab_title"))
controls_col, grid_col = st.columns([1, 2], gap="large")
with controls_col:
    settings = controls()
with grid_col:
    edited = input_grid()
x = shown(parse_grid, edited, t("pooling.name_input"), max_size=MAX_GRID)
if x is not None:
    st.session_state[LAST_GRID] = x
y = shown(settings.forward, x) if x is not None else None
window = forward_view(settings, x, y) if y is not None else []
with why:
    why_subsample(settings, x, pooled=y is not None)

st.header(t("pooling.backward_title"))
st.markdown(t("pooling.backward_intro"))
st.info(t(f"pooling.backward_{settings.mode}"))
if y is not None:
    backward_view(settings, x, y, window)

st.header(t("pooling.drawing_title"))
st.markdown(t("pooling.drawing_intro"))
digit = ui.drawn_digit_or_hint("pooling.draw_hint", "pooling.draw_link")
if digit is not None and (model := ui.current_model()) is not None:
    drawing_view(settings, model, digit)
st.page_link("pages/invariance.py", label=t("pooling.invariance_link"), icon=ui.PAGES["invariance"])
