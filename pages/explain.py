"""Why this digit? The gradient that reaches the input pixels (saliency, gradient × input),
occlusion maps, and fooling the network with small targeted changes, on the student's
digit; the three shipped networks' smallest epsilon side by side."""

import numpy as np
import streamlit as st

from lenet import explain as ex
from lenet import ui, viz
from lenet.conv_grad_lab import INPUT_GRAD_LATEX
from lenet.inference import predict
from lenet.preprocess import to_u8

t = ui.t
SIZE = 168  # pixels per small image

# The student's settings survive a visit to another page (lenet.ui.keep).
ui.keep("ex_class", "ex_patch", "ex_stride", "ex_target", "ex_epsilon", "ex_steps")
st.title(t("explain.title"))
st.markdown(t("explain.intro"))


def shown(compute, *args):
    """compute(*args), or None after showing on the page why the input cannot be used."""
    try:
        return compute(*args)
    except ex.ExplainInputError as e:
        st.error(t(f"explain.error_{e.reason}", **e.fields))
    except ValueError as e:
        st.error(t("common.invalid_input", error=str(e)))
    return None


def variant(name: str) -> str:
    model = ui.model_for(name)
    return model.config.variant if model is not None else name


def where(rc: tuple[int, int]) -> dict:
    return {"row": rc[0], "col": rc[1]}


@st.fragment  # its own controls rerun this section only
def saliency_section(model, digit, pred) -> None:
    st.header(t("explain.saliency_header"))
    st.markdown(t("explain.saliency_about"))
    if digit is None:
        return
    second = ex.runner_up(pred.probabilities)
    pick = st.columns(3)[0].selectbox(
        t("explain.pick_class"), range(10), index=second, key="ex_class"
    )
    grads = {c: shown(ex.saliency, model, digit, c) for c in (pred.digit, pick)}
    if any(g is None for g in grads.values()):
        return
    gxi = ex.gradient_x_input(grads[pick], digit)
    ui.image(
        st,
        [
            viz.signed_image(grads[pred.digit], digit, size=SIZE),
            viz.signed_image(grads[pick], digit, size=SIZE),
            viz.signed_image(gxi, digit, size=SIZE),
        ],
        caption=[
            t("explain.saliency_image", digit=pred.digit),
            t("explain.saliency_image", digit=pick),
            t("explain.gxi_image", digit=pick),
        ],
        width=SIZE,
    )
    st.caption(t("explain.scale_legend"))
    for c in dict.fromkeys((pred.digit, pick)):
        e = ex.extremes(grads[c])
        st.markdown(
            t(
                "explain.saliency_numbers",
                digit=c,
                high=e.high,
                low=e.low,
                high_row=e.high_at[0],
                high_col=e.high_at[1],
                low_row=e.low_at[0],
                low_col=e.low_at[1],
            )
        )
    e = ex.extremes(gxi)
    st.markdown(t("explain.gxi_numbers", digit=pick, high=e.high, **where(e.high_at)))
    with st.expander(t("explain.derivation_header"), expanded=True):
        st.markdown(t("explain.derivation"))
        st.latex(INPUT_GRAD_LATEX)
        st.markdown(t("explain.derivation_input"))
        st.latex(ex.SALIENCY_LATEX)
        st.page_link(
            "pages/kernel_gradient.py",
            label=t("explain.to_kernel_gradient"),
            icon=ui.PAGES["kernel_gradient"],
        )


@st.fragment  # its own controls rerun this section only
def occlusion_section(model, digit, pred) -> None:
    st.header(t("explain.occlusion_header"))
    st.markdown(t("explain.occlusion_about"))
    if digit is None:
        return
    left, right = st.columns(2)
    patch = left.slider(t("explain.patch"), 1, 14, 4, key="ex_patch")
    stride = right.slider(t("explain.stride"), 1, 7, 1, key="ex_stride")
    probs = shown(ex.occlusion_probabilities, model, digit, patch, stride)
    if probs is None:
        return
    changes = ex.answer_changes(probs, pred.digit)
    fig = viz.occlusion_map(
        probs[..., pred.digit],
        changes.changed,
        changes.answers,
        patch=patch,
        stride=stride,
        title=t("explain.occlusion_title", digit=pred.digit, patch=patch),
        value_label=t("explain.probability_of", digit=pred.digit),
        changed_label=t("explain.changed_label"),
        answer_label=t("explain.answer_label"),
    )
    left, right = st.columns([3, 1])
    ui.chart(left, fig, key="ex_occlusion")
    e = ex.extremes(probs[..., pred.digit])
    corner = ex.patch_corner(e.low_at, stride)
    ui.image(
        right,
        viz.thumbnail(ex.occluded(digit, corner, patch), SIZE),
        width=SIZE,
        caption=t("explain.worst_patch", digit=pred.digit, low=e.low),
    )
    places = probs.shape[0] * probs.shape[1]
    st.caption(
        t("explain.occlusion_numbers", digit=pred.digit, low=e.low, places=places, **where(corner))
    )
    if changes.most_common is None:
        st.markdown(t("explain.occlusion_unchanged", places=places, digit=pred.digit))
    else:
        st.markdown(
            t(
                "explain.occlusion_changed",
                count=changes.count,
                places=places,
                most=changes.most_common,
            )
        )


@st.fragment  # its own controls rerun this section only
def fool_section(model, digit, pred) -> None:
    st.header(t("explain.fool_header"))
    st.markdown(t("explain.fool_about"))
    if digit is None:
        return
    cols = st.columns(3)
    second = ex.runner_up(pred.probabilities)
    target = cols[0].selectbox(t("explain.target"), range(10), index=second, key="ex_target")
    epsilon = cols[1].slider(t("explain.epsilon"), 0.01, 1.0, 0.15, 0.01, key="ex_epsilon")
    steps = cols[2].slider(t("explain.steps"), 1, ex.MAX_STEPS, 50, key="ex_steps")
    if target == pred.digit:
        st.info(t("explain.already_target", target=target))
        return
    fooled = shown(ex.fool, model, digit, target, epsilon, steps)
    if fooled is None:
        return
    ui.image(
        st,
        [
            viz.thumbnail(digit, SIZE),
            viz.signed_image(ex.change(digit, fooled.image), bound=epsilon, size=SIZE),
            viz.thumbnail(to_u8(fooled.image), SIZE),
        ],
        caption=[
            t("explain.original_image", digit=pred.digit),
            t("explain.change_image", epsilon=epsilon),
            t("explain.fooled_image"),
        ],
        width=SIZE,
    )
    now = int(fooled.probabilities[-1].argmax())
    largest, mean = ex.change_size(digit, fooled.image)
    verdict = "fool_success" if fooled.success else "fool_failure"
    st.markdown(
        t(
            f"explain.{verdict}",
            steps=fooled.steps,
            target=target,
            now=now,
            p=float(fooled.probabilities[-1, now]),
            largest=largest,
            mean=mean,
            original=pred.digit,
            epsilon=epsilon,
        )
    )
    fig = viz.probability_path(
        fooled.probabilities,
        original=pred.digit,
        target=target,
        title=t("explain.path_title", original=pred.digit, target=target),
        x_label=t("explain.step"),
        y_label=t("explain.probability"),
    )
    ui.chart(st, fig, key="ex_path")
    start, end = fooled.probabilities[[0, -1], target]
    st.caption(t("explain.path_numbers", target=target, start=start, end=end, steps=fooled.steps))
    networks_table(digit, target)


@st.cache_data(show_spinner=False, max_entries=512)
def digit_epsilon(name: str, digit: np.ndarray, target: int) -> tuple[int, float] | None:
    """(what network ``name`` reads, the smallest epsilon that makes it read ``target``)."""
    model = ui.model_for(name)
    if model is None:
        return None
    return predict(model, digit).digit, float(ex.smallest_epsilon(model, digit, target))


@st.cache_data(show_spinner=False, max_entries=64)
def sample_epsilons(name: str, target: int) -> np.ndarray | None:
    """The smallest epsilon of every search digit of the sample (batched), for ``target``."""
    model, sample = ui.model_for(name), ui.sample()
    if model is None or sample is None:
        return None
    chosen = ex.search_digits(sample.labels, sample.random, target)
    return ex.smallest_epsilon(model, sample.images[chosen], target)


def epsilon_text(eps: float | None) -> str:
    if eps is None:
        return "—"
    return t("explain.epsilon_value", epsilon=eps) if np.isfinite(eps) else t("explain.not_fooled")


def networks_table(digit, target: int) -> None:
    st.subheader(t("explain.networks_header", target=target))
    rows, words = [], []
    with st.spinner(t("explain.networks_wait")):
        for name in ui.checkpoints():
            mine, over = digit_epsilon(name, digit, target), sample_epsilons(name, target)
            reads, eps = mine if mine else (None, None)
            median, never = ex.epsilon_summary(over) if over is not None else (None, None)
            if reads == target:
                eps = None  # it reads the target already: nothing to change
            rows.append(
                {
                    t("explain.col_network"): variant(name),
                    t("explain.col_reads"): "—" if reads is None else str(reads),
                    t("explain.col_digit"): epsilon_text(eps),
                    t("explain.col_sample"): epsilon_text(median),
                    t("explain.col_never"): "—" if never is None else str(never),
                }
            )
            if eps is not None and np.isfinite(eps):
                words.append(t("explain.network_words", network=variant(name), epsilon=eps))
    st.table(rows)
    digits = (10 - 1) * ex.SEARCH_DIGITS_PER_CLASS
    st.caption(
        t(
            "explain.networks_about",
            steps=ex.SEARCH_STEPS,
            digits=digits,
            per_class=ex.SEARCH_DIGITS_PER_CLASS,
            precision=2.0**-ex.SEARCH_ROUNDS,
        )
    )
    if words:
        st.markdown(t("explain.networks_numbers", target=target, list="; ".join(words)))


digit = ui.lab_digit("ex")
if digit is not None and shown(ex.unit_pixels, digit) is None:
    digit = None  # not a digit the network can read: the message says why
model = ui.current_model() if digit is not None else None
pred = shown(predict, model, digit) if model is not None else None
if pred is None:
    digit = None
else:
    st.caption(t("explain.reads", digit=pred.digit, confidence=pred.confidence))
saliency_section(model, digit, pred)
occlusion_section(model, digit, pred)
fool_section(model, digit, pred)
