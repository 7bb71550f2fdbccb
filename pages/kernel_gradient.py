"""Kernel-gradient lab: the lesson's 3x3 input and 2x2 kernel with every gradient written out
and checked against torch autograd, then bigger random cases, then C1 of the real network."""

import streamlit as st

from lenet import conv_grad as cg
from lenet import conv_grad_lab as lab
from lenet import describe, formulas, ui, viz
from lenet.grids import GridError, editor_table, parse_grid
from lenet.inference import c1_kernel_gradients, predict

t = ui.t
GRIDS = (("x", cg.SEED_X), ("w", cg.SEED_W), ("delta", cg.SEED_DELTA))

ui.keep("kg_bias", "kg_weight", "kg_size", "kg_kernel_size", "kg_channels", "kg_seed", "kg_target")
st.title(t("kernel_gradient.title"))
st.markdown(t("kernel_gradient.intro"))


def show_error(e: ValueError) -> None:
    if isinstance(e, GridError):
        st.error(t(f"grid.error_{e.reason}", **e.fields))
    elif isinstance(e, lab.GradInputError):
        st.error(t(f"kernel_gradient.error_{e.reason}", **e.fields))
    else:
        st.error(t("common.invalid_input", error=e))


def reset_seed() -> None:
    st.session_state["kg_generation"] = st.session_state.get("kg_generation", 0) + 1
    st.session_state["kg_bias"] = 0.0


def formula(latex: str) -> None:
    """A worked formula as inline maths: a long one wraps after + and = to fit the screen
    (st.latex's display maths cannot wrap and runs past the right edge of a phone)."""
    st.markdown(f"${latex}$")


def heat(col, values, title: str, key: str, **style) -> None:
    """A small matrix, its numbers written in its cells (a light table)."""
    ui.matrix_table(col, values, title, key, describe.matrix(values, title, t), **style)


def signed_maps(col, maps, title: str, key: str) -> None:
    """Maps (C, H, W) one under another, their numbers written, on one colour scale
    centred on 0."""
    caption = describe.feature_maps(title, maps, t)
    ui.maps_tables(col, maps, title, key, caption, t("kernel_gradient.channel"))


def compare(hand, auto, diff: float, agree: bool, rounding: lab.Rounding, name: str) -> None:
    """By hand | by autograd | their max absolute difference and what rounding allows."""
    left, right, verdict = st.columns([3, 3, 2])
    for col, values, how in ((left, hand, "hand"), (right, auto, "autograd")):
        show = heat if values.ndim == 2 else signed_maps
        show(col, values, t(f"kernel_gradient.{name}_{how}"), f"kg_{name}_{how}")
    value = t("kernel_gradient.agree" if agree else "kernel_gradient.disagree", diff=diff)
    verdict.metric(t("kernel_gradient.max_diff"), value)
    within = t("kernel_gradient.within" if agree else "kernel_gradient.beyond")
    fields = {"tolerance": rounding.tolerance, "terms": rounding.terms, "scale": rounding.scale}
    verdict.caption(t("kernel_gradient.tolerance", verdict=within, **fields))


def seed_grids() -> tuple[list, float]:
    """The seed example's editors (X, the kernel, delta) and the bias: the tables and b."""
    st.header(t("kernel_gradient.seed_header"))
    st.markdown(t("kernel_gradient.seed_intro"))
    generation = st.session_state.get("kg_generation", 0)
    *grid_cols, bias_col = st.columns([3, 2, 2, 2])
    tables = []
    for col, (name, seed) in zip(grid_cols, GRIDS, strict=True):
        col.markdown(t(f"kernel_gradient.grid_{name}"))
        table = editor_table(seed)
        key = f"kg_{name}_{generation}"
        tables.append(ui.kept_data_editor(col, table, key=key, num_rows="dynamic", hide_index=True))
    b = bias_col.number_input(t("kernel_gradient.bias"), -1e6, 1e6, 0.0, 0.5, key="kg_bias")
    bias_col.button(t("kernel_gradient.reset"), key="kg_reset", on_click=reset_seed)
    return tables, b


def seed_formulas(x, w, delta, b) -> None:
    """The forward and backward formulas of the seed example, written out."""
    st.subheader(t("kernel_gradient.forward_header"))
    st.markdown(t("kernel_gradient.forward_intro"))
    for line in formulas.output_formulas(x, w, b):
        formula(line)
    st.subheader(t("kernel_gradient.backward_header"))
    st.markdown(t("kernel_gradient.backward_intro"))
    for line in formulas.weight_grad_formulas(x, delta):
        formula(line)
    formula(formulas.bias_grad_formula(delta))


def weight_rule(x, w, delta) -> None:
    """The rule for one chosen weight: where it is used, outlined, and its formula."""
    st.subheader(t("kernel_gradient.rule_header"))
    st.info(t("kernel_gradient.rule"))
    k = st.selectbox(
        t("kernel_gradient.pick_weight"),
        range(w.size),
        key="kg_weight",
        format_func=lambda k: t("kernel_gradient.weight_option", k=k + 1),
    )
    view = lab.weight_view(x, w.shape, delta, k)
    x_col, w_col, d_col = st.columns([3, 2, 2])
    heat(
        x_col,
        x,
        t("kernel_gradient.input_title", k=k + 1),
        "kg_input",
        labels=view.labels,
        highlight=view.highlight,
    )
    heat(
        w_col,
        w,
        t("kernel_gradient.kernel_title"),
        "kg_kernel",
        labels=lab.indexed_labels(w, "ω"),
        highlight=[view.kernel_rc],
    )
    heat(
        d_col,
        delta,
        t("kernel_gradient.delta_title"),
        "kg_delta",
        labels=lab.indexed_labels(delta, "δ"),
    )
    pairs = (t("kernel_gradient.use_pair", output=u.output, input=u.input) for u in view.uses)
    st.markdown(t("kernel_gradient.uses", k=k + 1, count=len(view.uses), pairs=", ".join(pairs)))
    formula(view.formula)


def seed_section() -> None:
    tables, b = seed_grids()
    try:
        x, w, delta = (
            parse_grid(table, t(f"kernel_gradient.name_{name}"), max_size=lab.MAX_GRID)
            for table, (name, _) in zip(tables, GRIDS, strict=True)
        )
        check = lab.grad_check(x, w, delta, b)
    except ValueError as e:
        show_error(e)
        return

    seed_formulas(x, w, delta, b)
    weight_rule(x, w, delta)

    st.subheader(t("kernel_gradient.check_header"))
    st.markdown(t("kernel_gradient.check_intro"))
    compare(
        check.manual_dw, check.autograd_dw, check.diff_w, check.agrees_w, check.rounding_w, "dw"
    )
    st.caption(t("kernel_gradient.bias_check", hand=check.manual_db, auto=check.autograd_db))


@st.fragment  # its own sliders rerun this section only
def general_section() -> None:
    st.header(t("kernel_gradient.general_header"))
    st.markdown(t("kernel_gradient.general_intro"))
    c = st.columns(4)
    size = c[0].slider(t("kernel_gradient.size"), 3, 10, 6, key="kg_size")
    kernel = c[1].slider(t("kernel_gradient.kernel"), 1, 5, 3, key="kg_kernel_size")
    channels = c[2].slider(t("kernel_gradient.channels"), 1, 3, 2, key="kg_channels")
    seed = c[3].number_input(t("kernel_gradient.seed"), 0, 2**31 - 1, 0, key="kg_seed")
    try:
        x, w, delta = lab.random_case(size, kernel, channels, int(seed))
        check = lab.grad_check(x, w, delta)
    except ValueError as e:
        show_error(e)
        return
    x_col, w_col, d_col = st.columns([3, 3, 2])
    signed_maps(x_col, x, t("kernel_gradient.general_x"), "kg_gx")
    signed_maps(w_col, w, t("kernel_gradient.general_w"), "kg_gw")
    signed_maps(d_col, delta[None], t("kernel_gradient.general_delta"), "kg_gdelta")
    st.markdown(t("kernel_gradient.dw_intro"))
    formula(lab.KERNEL_GRAD_LATEX)
    compare(
        check.manual_dw, check.autograd_dw, check.diff_w, check.agrees_w, check.rounding_w, "gdw"
    )
    st.markdown(t("kernel_gradient.dx_intro"))
    formula(lab.INPUT_GRAD_LATEX)
    compare(
        check.manual_dx, check.autograd_dx, check.diff_x, check.agrees_x, check.rounding_x, "gdx"
    )


def network_section() -> None:
    st.header(t("kernel_gradient.network_header"))
    st.markdown(t("kernel_gradient.network_intro"))
    digit = ui.drawn_digit_or_hint("kernel_gradient.no_digit", "kernel_gradient.go_draw")
    if digit is None:
        return
    model = ui.current_model()
    if model is None:
        return
    pred = predict(model, digit)
    left, right = st.columns([1, 4])
    left.image(
        viz.upscale(digit, 140),
        caption=t("kernel_gradient.your_digit", digit=pred.digit, confidence=pred.confidence),
        alt=describe.digit_image(pred.digit, pred.confidence, t),
    )
    target = left.selectbox(
        t("kernel_gradient.target"), range(10), index=pred.digit, key="kg_target"
    )
    grads, exponent = lab.decimal_scale(c1_kernel_gradients(model, digit, target))
    title = t("kernel_gradient.c1_title", exponent=exponent)
    value_label = t("kernel_gradient.gradient", exponent=exponent)
    fig = viz.feature_maps(
        grads,
        cols=6,
        title=title,
        height=260,
        colorscale=viz.DIVERGING,
        symmetric=True,
        map_label=t("kernel_gradient.kernel_label"),
        value_label=value_label,
    )
    ui.chart(right, fig, key="kg_c1_grads")
    right.caption(describe.feature_maps(title, grads, t))
    loss = lab.target_loss(model, digit, target)
    st.markdown(t("kernel_gradient.meaning", target=target, loss=loss))


seed_section()
general_section()
network_section()
st.page_link("pages/explain.py", label=t("explain.from_kernel_gradient"), icon=ui.PAGES["explain"])
