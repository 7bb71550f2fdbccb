"""LeNet-5's architecture: the diagram, what each layer is for, the parameters per layer,
the lesson's three totals, and the network as published in 1998. Every number comes from
lenet.params (through lenet.architecture), measured on the model."""

import streamlit as st

from lenet import architecture as arch
from lenet import ui, viz
from lenet.model import C3_TABLE, LAYER_NAMES, VARIANTS, build_model
from lenet.params import connections
from lenet.prototypes import paper_bitmaps

t = ui.t
DRAW, POOLING, KERNEL_GRADIENT = "pages/draw.py", "pages/pooling.py", "pages/kernel_gradient.py"
LINKS = {"s2": POOLING, "s4": POOLING}  # every other layer: its maps on the draw page
TABLE = ("layer", "kind", "shape", "formula", "weights", "biases", "total")
PAPER_TABLE = ("layer", "kind", "total", "connection_formula", "connections")


def layer_name(layer: str) -> str:
    return t(f"architecture.layer_{layer}")


def kind_name(kind: str) -> str:
    return t(f"architecture.kind_{kind.replace(' ', '_')}")


def link(page: str, key: str) -> None:
    label = t(f"architecture.link_{key}")
    st.page_link(page, label=label, icon=":material/arrow_forward:")


def table(model, columns: tuple[str, ...], key: str) -> None:
    rows = arch.layer_table(model, layer_name, kind_name)
    config = {c: t(f"architecture.col_{c}") for c in columns}
    st.dataframe(rows, column_order=columns, column_config=config, hide_index=True, key=key)


st.title(t("architecture.title"))
st.markdown(t("architecture.intro"))
classic, paper = build_model("classic"), build_model("lecun1998")
model = ui.current_model() if ui.checkpoints() else None

st.subheader(t("architecture.diagram_title"))
shown = model if model is not None else classic
st.graphviz_chart(arch.network_dot(shown, layer_name, kind_name))
input_shape = arch.format_shape(arch.input_shape(shown))
if model is None:
    st.caption(t("architecture.caption_fresh"))
else:
    st.caption(t("architecture.caption_model", input=input_shape, variant=model.config.variant))

st.subheader(t("architecture.table_title"))
table(shown, TABLE, key="architecture_table")
st.caption(t("architecture.table_caption"))

st.subheader(t("architecture.roles_title"))
facts = arch.layer_facts(classic)
layers = ("input", *LAYER_NAMES)
half = (len(layers) + 1) // 2
for col, group in zip(st.columns(2, gap="large"), (layers[:half], layers[half:]), strict=True):
    with col:
        for layer in group:
            st.markdown(t(f"architecture.role_{layer}", **facts[layer]))
            link(LINKS.get(layer, DRAW), layer)

st.subheader(t("architecture.totals_title"))
st.markdown(t("architecture.totals_intro"))
for col, total in zip(st.columns(3), arch.lesson_totals(classic), strict=True):
    with col, st.container(border=True, key=f"architecture_total_{total.key}"):
        st.metric(t(f"architecture.total_{total.key}"), f"{total.value:,}")
        st.caption(t(f"architecture.total_{total.key}_help"))
        for line in total.lines:
            st.latex(arch.stacked(line))

features, influence = st.columns(2, gap="large")
with features:
    st.subheader(t("architecture.features_title"))
    st.markdown(t("architecture.feature_local", kernel=facts["c1"]["kernel"]))
    link(DRAW, "local")
    st.markdown(t("architecture.feature_sharing", **facts["c1"]))
    link(KERNEL_GRADIENT, "sharing")
    st.markdown(t("architecture.feature_hierarchy"))
    link(DRAW, "hierarchy")
    st.markdown(t("architecture.feature_pooling"))
    link(POOLING, "pooling")
with influence:
    st.subheader(t("architecture.influence_title"))
    for item in ("first", "template", "alexnet"):
        st.markdown(f"- {t(f'architecture.influence_{item}')}")

st.divider()
st.header(t("architecture.paper_title"))
st.markdown(t("architecture.paper_intro"))
st.subheader(t("architecture.variants_title"))
for col, (variant, n) in zip(st.columns(3), arch.variant_parameters(VARIANTS).items(), strict=True):
    col.metric(t(f"architecture.variant_{variant}"), f"{n:,}")
st.markdown(t("architecture.variants_caption"))

paper_facts = arch.paper_facts(paper, classic)
st.subheader(t("architecture.c3_title"))
st.markdown(t("architecture.c3_intro", **paper_facts))
pick, grid = st.columns([1, 3], gap="large")
c3_maps = {i: t("architecture.c3_map_option", index=i) for i in range(len(C3_TABLE))}
index = pick.selectbox(
    t("architecture.c3_select"), list(c3_maps), format_func=c3_maps.get, key="architecture_c3_map"
)
chosen = arch.c3_map(index, paper.c3.kernel_size)
with pick:
    inputs, kernel = ", ".join(map(str, chosen.inputs)), arch.format_shape(paper.c3.kernel_size)
    n = len(chosen.inputs)
    st.markdown(t("architecture.c3_selected", index=index, inputs=inputs, n=n, kernel=kernel))
    st.latex(chosen.latex)
ui.chart(
    grid,
    arch.c3_table_figure(
        index,
        paper.c3.kernel_size,
        title=t("architecture.c3_figure_title"),
        c3_label=t("architecture.c3_axis_c3"),
        s2_label=t("architecture.c3_axis_s2"),
    ),
    key="architecture_c3_table",
)
st.markdown(t("architecture.c3_total", **paper_facts))
st.latex(arch.c3_total_latex(paper.c3.kernel_size))

st.subheader(t("architecture.connections_title"))
metric, sums = st.columns([1, 3], gap="large")
metric.metric(t("architecture.connections_metric"), f"{connections(paper):,}")
sums.latex(arch.connections_latex(paper))
table(paper, PAPER_TABLE, key="architecture_paper_table")
st.caption(t("architecture.connections_caption"))

st.subheader(t("architecture.differences_title"))
formulas = {"tanh": arch.SCALED_TANH_LATEX, "rbf": arch.RBF_LATEX}
for item in ("c3", "subsampling", "tanh", "input", "rbf"):
    st.markdown(f"- {t(f'architecture.diff_{item}', **paper_facts)}")
    if item in formulas:
        st.latex(formulas[item])

st.subheader(t("architecture.bitmaps_title"))
bitmaps_text = t("architecture.bitmaps_alt")
st.image(viz.bitmaps_png(paper_bitmaps(), scale=6), caption=bitmaps_text, alt=bitmaps_text)
