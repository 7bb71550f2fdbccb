"""The architecture page (AppTest): it runs in both languages, its control reruns cleanly,
and every number it shows is lenet.params' (and the lesson's and the paper's pinned ones)."""

from __future__ import annotations

import re

import pytest

from lenet import architecture as arch
from lenet import ui
from lenet.checkpoint import models_dir, read_config
from lenet.i18n import LANGUAGES, translate
from lenet.model import C3_TABLE, LAYER_NAMES, VARIANTS, build_model
from lenet.params import connections, layer_counts, totals
from lenet_testkit.apptest import run_page, texts

PAGE = "pages/architecture.py"
C3_KEY = "architecture_c3_map"


@pytest.fixture(scope="module")
def page_en():
    at = run_page(PAGE, lang="en")
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label_key: str, lang: str = "en") -> int:
    label = translate(label_key, lang)
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, (label, [m.label for m in at.metric])
    return int(values[0].replace(",", ""))


def latex(at) -> list[str]:
    """The formulas shown with st.latex, without the $$ Streamlit wraps them in."""
    return [e.value.strip().removeprefix("$$").removesuffix("$$").strip() for e in at.latex]


def shown_variant(at) -> str:
    """The variant of the sidebar's checkpoint (classic when there is none)."""
    name = at.session_state["checkpoint"] if "checkpoint" in at.session_state else None
    if not name or not (models_dir() / name).exists():
        return "classic"
    return read_config(models_dir() / name).variant


def keep_checkpoint(at) -> None:
    """AppTest does not render app.py's sidebar after switch_page, so the checkpoint
    picker's state is dropped on the next run; set it again, as the sidebar would."""
    names = ui.checkpoints()
    if names:
        at.session_state["checkpoint"] = names[0]


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_page_runs_and_the_c3_control_reruns_cleanly(lang):
    at = run_page(PAGE, lang=lang)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == translate("architecture.title", lang)
    for index in (3, 15, 0):
        keep_checkpoint(at)
        at.selectbox(key=C3_KEY).select(index).run()
        assert not at.exception, [e.value for e in at.exception]
        assert arch.c3_map(index, (5, 5)).latex in latex(at)
    assert not at.error


def test_language_switch_on_the_page():
    at = run_page(PAGE, lang="en")
    at.session_state["lang"] = "zh"  # what the sidebar's language switch sets
    at.run()
    assert not at.exception
    assert at.title[0].value == translate("architecture.title", "zh")
    assert metric(at, "architecture.total_seed_mixed", "zh") == 61684


def test_the_three_totals_are_params_and_the_lessons(page_en):
    expected = totals(build_model("classic"))
    shown = {key: metric(page_en, f"architecture.total_{key}") for key in arch.TOTAL_KEYS}
    assert shown == expected
    assert shown == {"with_bias": 61706, "weights_only": 61470, "seed_mixed": 61684}


def test_each_total_shows_its_arithmetic(page_en):
    shown = latex(page_en)
    sums = {
        "with_bias": [156, 0, 2416, 0, 48120, 10164, 850, 61706],
        "weights_only": [150, 0, 2400, 0, 48000, 10080, 840, 61470],
        "seed_mixed": [150, 0, 2400, 0, 48120, 10164, 850, 61684],
    }
    found = [[int(n) for n in re.findall(r"\d+", line)] for line in shown]
    for terms in sums.values():
        assert terms in found
    assert "61706 - (6 + 16) = 61684" in shown


def test_layer_table_is_params(page_en):
    model = build_model(shown_variant(page_en))
    frame = page_en.dataframe[0].value
    counts = layer_counts(model)
    assert len(frame) == len(LAYER_NAMES)
    assert list(frame["layer"]) == [translate(f"architecture.layer_{n}") for n in LAYER_NAMES]
    assert list(frame["shape"]) == [arch.format_shape(r.output_shape) for r in counts]
    assert list(frame["weights"]) == [r.weights for r in counts]
    assert list(frame["biases"]) == [r.biases for r in counts]
    assert list(frame["total"]) == [r.total for r in counts]


def test_diagram_shows_every_layer_and_its_shape(page_en):
    charts = page_en.get("graphviz_chart")
    assert len(charts) == 1
    dot = charts[0].proto.spec
    model = build_model(shown_variant(page_en))
    assert "1×32×32" in dot
    for row in layer_counts(model):
        name = translate(f"architecture.layer_{row.layer}")
        assert f"<B>{name}</B><BR/>{arch.format_shape(row.output_shape)}<BR/>" in dot


def test_links_to_the_interactive_pages(page_en):
    targets = {link.proto.page for link in page_en.get("page_link")}
    assert {"draw", "pooling", "kernel_gradient"} <= {t.removesuffix(".py") for t in targets}


def test_the_paper_s_figures(page_en):
    params = {v: metric(page_en, f"architecture.variant_{v}") for v in VARIANTS}
    assert params == {"classic": 61706, "modern": 61706, "lecun1998": 60000}
    assert metric(page_en, "architecture.connections_metric") == 340908
    assert metric(page_en, "architecture.connections_metric") == connections(
        build_model("lecun1998")
    )
    formulas = latex(page_en)
    assert "122304 + 5880 + 151600 + 2000 + 48120 + 10164 + 840 = 340908" in formulas
    assert arch.SCALED_TANH_LATEX in formulas
    paper = page_en.dataframe[1].value
    assert list(paper["connections"]) == [122304, 5880, 151600, 2000, 48120, 10164, 840]
    shown = texts(page_en)
    assert "-0.1" in shown and "1.175" in shown
    assert "1516" in shown and "2416" in shown


@pytest.mark.parametrize("index", [0, 6, 15])
def test_choosing_a_c3_map_gives_its_parameters(page_en, index):
    at = page_en
    at.selectbox(key=C3_KEY).select(index).run()
    assert not at.exception
    expected = len(C3_TABLE[index]) * 25 + 1
    assert expected == {0: 76, 6: 101, 15: 151}[index]
    assert f"{len(C3_TABLE[index])} \\times 5 \\times 5 + 1 = {expected}" in latex(at)
    inputs = ", ".join(str(i) for i in C3_TABLE[index])
    assert f"**{inputs}**" in texts(at)


def test_without_a_checkpoint_the_page_counts_a_fresh_classic_network(monkeypatch):
    monkeypatch.setattr(ui, "checkpoints", lambda: [])
    at = run_page(PAGE, lang="en")
    assert not at.exception, [e.value for e in at.exception]
    assert translate("architecture.caption_fresh") in texts(at)
    assert list(at.dataframe[0].value["total"]) == [r.total for r in layer_counts(build_model())]
    assert metric(at, "architecture.total_with_bias") == 61706


def test_a_checkpoint_that_cannot_load_leaves_the_page_usable(monkeypatch):
    monkeypatch.setattr(ui, "current_model", lambda: None)
    at = run_page(PAGE, lang="zh")
    assert not at.exception, [e.value for e in at.exception]
    assert translate("architecture.caption_fresh", "zh") in texts(at)
    at.selectbox(key=C3_KEY).select(6).run()
    assert not at.exception
