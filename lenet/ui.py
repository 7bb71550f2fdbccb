"""Streamlit glue shared by app.py and the pages: language, checkpoint choice, cached model
loading, and the drawn digit shared between pages. With lenet/server.py (the launcher),
the only module of the library that imports Streamlit.

Session-state keys (documented here, used by several pages):
- ``lang``: "en" or "zh", the sidebar's language switch (also ``?lang=`` in the URL).
- ``checkpoint``: file name of the chosen checkpoint in the models folder
  (``lenet.checkpoint.models_dir()``: ``$LENET_MODELS_DIR``, default ``models/``).
- ``digit``: the current 28x28 uint8 image from the draw page (or None), which the pooling
  and kernel-gradient pages reuse ("on your drawing"); ``digit_origin`` says where it came
  from (``set_current_digit(image, origin)``; ``digit_origin_text()`` says it in words).
- ``kept_widgets``, ``kept_editors``, ``kept_canvas_*``, ``kept_upload``: what keeps
  students' settings and input across visits to other pages (below); the reading page
  keeps its own writing and photo under ``rn_canvas_<size>_*`` and ``rn_kept_upload``.

Settings that survive a visit to another page. Streamlit drops a widget's value at the end
of a run that does not draw it, so a page visited again would show its defaults. A page
declares its value widgets once, at its top, before drawing them:

    ui.keep("inv_angle", "inv_digit", "inv_mode")  # sliders, selectboxes, radios, inputs...

and app.py calls ``ui.remember_kept()`` at the start of every full run: it copies the
values of every declared key still in session state (a widget drawn on the last run, the
last run of a fragment included) into a plain key, ``kept_widgets``, which Streamlit never
drops; ``keep`` puts a dropped value back before the widget is drawn (and copies too: a
page run alone, as AppTest's reruns do, skips app.py). Keys are global: use the page's
prefix (``pool_``, ``kg_``, ``inv_``, ``ex_``, ``rn_``, ``tr_``...). Only value widgets:
never a button, a file uploader or a data editor (Streamlit refuses to have those set).
A data editor is drawn through ``ui.kept_data_editor(where, data, key=...)`` instead, which
starts an editor drawn again from the student's last edited table; an uploader through
``ui.kept_upload(label, key=...)``; a canvas through ``ui.kept_canvas`` (each drawing a
student makes in a store of its own: the draw page's digit, the reading page's number).
A widget given a default (``value=``, ``index=``, ``default=``) keeps working: the kept
value wins, and Streamlit only notes it once in the server log, never on the page.

A model the student trained on the training page joins the checkpoint list of that
session only, as ``own:<job id>`` (``OWN_PREFIX``); it lives in ``training_jobs()``,
never in models/.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import streamlit as st
import torch

from lenet.checkpoint import CheckpointError, load_checkpoint, models_dir, read_card, read_variant
from lenet.i18n import LANGUAGES, normalise_language, translate
from lenet.model import LeNet5
from lenet.server import use_app_navigation

LANG_KEY, CHECKPOINT_KEY, DIGIT_KEY, ORIGIN_KEY = "lang", "checkpoint", "digit", "digit_origin"
KEPT_WIDGETS, KEPT_DECLARED = "kept_widgets", "kept_widgets_declared"
KEPT_EDITORS, KEPT_UPLOAD = "kept_editors", "kept_upload"
DIGIT_CANVAS = "kept_canvas"  # the kept canvas (kept_canvas's store) of the draw page's digit
# The pages, in navigation order: script name in pages/ (also the URL path) -> icon.
PAGES = {
    "draw": ":material/draw:",
    "architecture": ":material/account_tree:",
    "pooling": ":material/grid_view:",
    "kernel_gradient": ":material/functions:",
    "invariance": ":material/open_with:",
    "explain": ":material/troubleshoot:",
    "read_number": ":material/pin:",
    "train": ":material/model_training:",
    "model_card": ":material/analytics:",
    "exercises": ":material/quiz:",
}
DEFAULT_CHECKPOINT = "lenet5-classic.safetensors"
OWN_PREFIX = "own:"


# Deep links and reconnecting browsers go through app.py (lenet.server explains why; it
# does this before the first request, this import for `streamlit run app.py` and AppTest).
use_app_navigation()

# The app runs one small forward pass per stroke, for many sessions at once: one thread
# each avoids the thread pools of concurrent sessions fighting over the cores, and
# flushing denormal floats to zero keeps saturated units from slowing the arithmetic.
torch.set_num_threads(1)
torch.set_flush_denormal(True)


def lang() -> str:
    return st.session_state.get(LANG_KEY) or normalise_language(st.query_params.get("lang"))


def t(key: str, /, **fields: object) -> str:
    return translate(key, lang(), **fields)


def init_language() -> None:
    """Take the language from ``?lang=`` on first load; keep the URL in step with it."""
    if LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = normalise_language(st.query_params.get("lang"))
    if st.query_params.get("lang") != st.session_state[LANG_KEY]:
        st.query_params["lang"] = st.session_state[LANG_KEY]


def _copy_widget(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


# The sidebar's widgets keep their values under their own keys and copy them into plain
# session-state keys: a widget's key is dropped on a run that does not draw it, a plain
# key is not (Streamlit's recipe for state shared by pages).
def language_switch() -> None:
    st.session_state[f"{LANG_KEY}_widget"] = lang()
    st.sidebar.radio(
        t("common.language"),
        list(LANGUAGES),
        format_func=LANGUAGES.get,
        key=f"{LANG_KEY}_widget",
        on_change=_copy_widget,
        args=(f"{LANG_KEY}_widget", LANG_KEY),
        horizontal=True,
    )


def checkpoints() -> list[str]:
    """Every shipped digit-reading checkpoint (lenet5-*.safetensors), classic first; the
    reader's segment scorer (lenet.segments) beside them is not one."""
    names = sorted(
        p.name
        for p in models_dir().glob("lenet5-*.safetensors")
        if not p.name.endswith(".resume.safetensors")
    )
    return sorted(names, key=lambda n: (n != DEFAULT_CHECKPOINT, n))


@st.cache_data(show_spinner=False)
def card_of(name: str, mtime: float, folder: str = "") -> dict | None:
    try:
        return read_card(models_dir() / name)
    except CheckpointError:
        return None


@st.cache_data(show_spinner=False)
def _variant_of(name: str, mtime: float, folder: str) -> str | None:
    try:
        return read_variant(models_dir() / name)
    except CheckpointError:
        return None


def _mtime(name: str) -> float:
    try:
        return (models_dir() / name).stat().st_mtime
    except OSError:
        return 0.0


def variant_of(name: str) -> str:
    """The variant checkpoint ``name`` holds, from its own config; its file name when the
    file cannot be read (the picker still lists it, and loading it says what is wrong)."""
    return _variant_of(name, _mtime(name), str(models_dir())) or name.removesuffix(".safetensors")


def checkpoint_label(name: str) -> str:
    if name.startswith(OWN_PREFIX):
        job = own_job(name)
        if job is None or job.result is None:
            return t("common.own_gone")
        return t("common.own_option", number=job.number, accuracy=job.result["test_accuracy"])
    card = card_for(name)
    variant = variant_of(name)
    if not card or "test_accuracy" not in card:
        return variant
    return t("common.checkpoint_option", variant=variant, accuracy=card["test_accuracy"])


def checkpoint_picker() -> None:
    names = checkpoints() + own_checkpoints()
    if not names:
        st.sidebar.warning(t("common.no_checkpoints"))
        return
    if st.session_state.get(CHECKPOINT_KEY) not in names:
        st.session_state[CHECKPOINT_KEY] = names[0]
    st.session_state[f"{CHECKPOINT_KEY}_widget"] = st.session_state[CHECKPOINT_KEY]
    st.sidebar.selectbox(
        t("common.checkpoint"),
        names,
        format_func=checkpoint_label,
        key=f"{CHECKPOINT_KEY}_widget",
        on_change=_copy_widget,
        args=(f"{CHECKPOINT_KEY}_widget", CHECKPOINT_KEY),
        help=t("common.checkpoint_help"),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _load(name: str, mtime: float, folder: str = "") -> LeNet5:
    return load_checkpoint(models_dir() / name)


def on_a_phone() -> bool:
    """Does the browser say it is a phone? ("Mobi" in its User-Agent, as browsers' own
    guides advise.) A server cannot know the screen's width: pages use this only to choose
    a default a student can still change."""
    return "Mobi" in (st.context.headers.get("User-Agent") or "")


def current_model() -> LeNet5 | None:
    """The chosen checkpoint's model (shared by every session: never mutate it), or None
    after showing why it cannot be loaded."""
    name = st.session_state.get(CHECKPOINT_KEY) or DEFAULT_CHECKPOINT
    if name.startswith(OWN_PREFIX):
        if (job := own_job(name)) is not None:
            return job.model
        st.session_state[CHECKPOINT_KEY] = name = DEFAULT_CHECKPOINT  # dropped: back to classic
    try:
        return _load(name, _mtime(name), str(models_dir()))
    except CheckpointError as e:
        st.error(t("common.checkpoint_error", error=str(e)))
        return None


def current_digit() -> np.ndarray | None:
    return st.session_state.get(DIGIT_KEY)


def drawn_digit_or_hint(hint_key: str, link_key: str) -> np.ndarray | None:
    """The draw page's current digit; without one, a hint and a link to the draw page."""
    digit = current_digit()
    if digit is None:
        st.info(t(hint_key))
        st.page_link("pages/draw.py", label=t(link_key), icon=PAGES["draw"])
    elif (origin := digit_origin_text()) is not None:
        st.caption(t("common.digit_in_use", origin=origin))
    return digit


def set_current_digit(image28: np.ndarray | None, origin: dict | None = None) -> None:
    """Share ``image28`` with every page. ``origin`` says where it came from, for the labs
    to say: {"source": "canvas"}, {"source": "upload", "name": ...}, or {"source":
    "sample", "index": MNIST test index, "label": true label}."""
    st.session_state[DIGIT_KEY] = image28
    st.session_state[ORIGIN_KEY] = origin if image28 is not None else None


def digit_origin_text() -> str | None:
    """Where the shared digit came from, in words (None without a digit)."""
    origin = st.session_state.get(ORIGIN_KEY) if current_digit() is not None else None
    if not origin:
        return None
    fields = {k: v for k, v in origin.items() if k != "source"}
    return t(f"common.digit_from_{origin['source']}", **fields)


# The inputs a lab can work on: the draw page's digit, a real MNIST test digit from the
# shipped sample, or one drawn on the lab page itself.
LAB_INPUTS = ("current", "sample", "draw")


def _lab_sample_digit(prefix: str) -> np.ndarray | None:
    sample_set = sample()
    if sample_set is None:
        st.warning(t("common.lab_sample_missing"))
        return None
    pool = sample_set.random
    index_key = f"{prefix}_sample_index"
    if (
        st.button(
            t("common.lab_sample_next"), key=f"{prefix}_sample_next", icon=":material/casino:"
        )
        or index_key not in st.session_state
    ):
        st.session_state[index_key] = int(np.random.default_rng().choice(pool))
    i = st.session_state[index_key] % len(sample_set.labels)
    st.caption(
        t(
            "common.lab_sample_caption",
            index=int(sample_set.indices[i]),
            label=int(sample_set.labels[i]),
        )
    )
    return sample_set.images[i]


def _lab_drawn_digit(prefix: str) -> np.ndarray | None:
    from lenet.preprocess import canvas_to_mnist

    width = st.slider(t("common.lab_stroke_width"), 6, 40, 20, key=f"{prefix}_stroke_width")
    drawing = draw_canvas(width, key=f"{prefix}_canvas")
    digit = canvas_to_mnist(drawing) if drawing is not None else None
    if digit is None:
        st.info(t("common.lab_draw_hint"))
    return digit


def lab_digit(prefix: str) -> np.ndarray | None:
    """The 28x28 uint8 digit a lab works on, chosen by the student (a segmented control
    with key ``{prefix}_input``): the draw page's current digit, a sample MNIST test digit,
    or one drawn here. Without one, a hint (and a link to the draw page); returns None."""
    keep(f"{prefix}_input", f"{prefix}_stroke_width")
    choice = st.segmented_control(
        t("common.lab_input"),
        LAB_INPUTS,
        format_func=lambda s: t(f"common.lab_input_{s}"),
        default="current",
        key=f"{prefix}_input",
    )
    if choice == "sample":
        return _lab_sample_digit(prefix)
    if choice == "draw":
        return _lab_drawn_digit(prefix)
    return drawn_digit_or_hint("common.lab_no_digit", "common.lab_go_draw")


@st.cache_resource(show_spinner=False)
def _sample(mtime: float, path: str):
    from lenet.sample import read_sample

    return read_sample(path)


def sample():
    """The shipped MNIST sample (models/mnist-sample.npz), or None if it is missing."""
    from lenet.sample import sample_path

    path = sample_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return _sample(mtime, str(path))


# streamlit-drawable-canvas 0.13.0 (pinned) keeps its floating toolbar (send, undo, redo,
# edit, reset) invisible but present over the top right of the canvas (the top 30 px of its
# right half) until the pointer has rested there: a press that begins a stroke there lands
# on the toolbar and draws nothing (always on a phone, which never hovers; with a mouse that
# presses as it arrives), and a tap can hit its invisible Edit (which stops drawing) or
# Reset button. 0.13.0 can hide the toolbar only with the canvas (`disabled`), so we
# register the component again under its own name with one style rule that removes the
# toolbar. A student needs none of it: the page's Clear button starts over, a digit is a
# stroke or two, its Edit mode only confuses, its labels are English only (issue 21).
# Upstreamable fix: no pointer events on the toolbar while it is hidden.
# The wide canvas of the reading page is wider than a phone: its container clips it rather
# than scrolling (a scrolling region would have to be reachable by keyboard, WCAG 2.1.1).
CANVAS_HTML = (
    "<style>.dc-toolbar { display: none !important; }"
    " .dc-scroll { overflow: hidden !important; }</style>"
    '<div class="canvas-root"></div>'
)


@functools.cache
def _hide_canvas_toolbar() -> None:
    """Make st_canvas mount the component with CANVAS_HTML (once per process; every
    canvas of the app: the draw page's and any other)."""
    import streamlit_drawable_canvas

    streamlit_drawable_canvas.out = st.components.v2.component(
        "streamlit-drawable-canvas.streamlit_drawable_canvas",
        js="index-*.js",
        css="index-*.css",
        html=CANVAS_HTML,
        isolate_styles=True,
    )


def draw_canvas(
    stroke_width: int,
    key: str,
    initial_drawing: dict | None = None,
    strokes_key: str | None = None,
    width: int = 280,
    height: int = 280,
) -> np.ndarray | None:
    """The drawing canvas (white ink on black, no component toolbar), ``width`` x ``height``
    CSS pixels; returns its RGBA pixels, or None before the first stroke.
    ``initial_drawing`` (fabric.js JSON) is drawn when the canvas mounts; with
    ``strokes_key``, the strokes it sends are stored there. Tests patch this function:
    AppTest cannot drive a custom component."""
    from streamlit_drawable_canvas import st_canvas

    _hide_canvas_toolbar()
    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=height,
        width=width,
        drawing_mode="freedraw",
        initial_drawing=initial_drawing,
        return_image_data=True,
        key=key,
    )
    if strokes_key is not None and result.image_data is not None:
        st.session_state[strokes_key] = result.json_data
    return result.image_data


# Charts are read, not edited: Plotly's toolbar (zoom, pan, reset axes, download) offers a
# student nothing the lessons need, and on a phone, where no hover hides it, it sits on the
# chart's title (issue 22, point 7). Streamlit's own fullscreen button still enlarges a chart.
CHART_CONFIG = {"displayModeBar": False}


def chart(where, figure, key: str) -> None:
    """Show a plotly ``figure`` in ``where`` (st, a column, a tab) without Plotly's toolbar."""
    from lenet import viz

    where.plotly_chart(viz.fit_title(figure), key=key, config=CHART_CONFIG)


def matrix_table(where, values, title: str, key: str, caption: str, **marks) -> None:
    """A lab's small matrix as a table of its numbers (lenet.viz.matrix_markdown; ``marks``:
    its labels and highlight) under its title, in a container keyed ``key``, with the
    sentence ``caption`` under it. Far cheaper for the browser to redraw with every slider
    move than a plotly heatmap (issue 14); title and table are one element, as each element
    redrawn costs the browser a few milliseconds."""
    from lenet import viz

    box = where.container(key=key)
    box.markdown(f"**{title}**\n\n{viz.matrix_markdown(values, **marks)}")
    box.caption(caption)


def maps_tables(where, maps, title: str, key: str, caption: str, map_label: str) -> None:
    """Maps (C, H, W) as matrix_table's tables, one under another, each named
    "``map_label`` k", in one element under the title."""
    from lenet import viz

    parts = [f"**{title}**"]
    for k, values in enumerate(np.asarray(maps, dtype=np.float64)):
        parts += [f"{map_label} {k}", viz.matrix_markdown(values)]
    box = where.container(key=key)
    box.markdown("\n\n".join(parts))
    box.caption(caption)


def image(where, images, caption, **kwargs) -> None:
    """``where.image`` whose caption (a sentence, or one per image) is also the images'
    text alternative: what a screen reader says is what a sighted student reads."""
    where.image(images, caption=caption, alt=caption, **kwargs)


def probabilities(where, probs, key: str, true_label: int | None = None) -> None:
    """The ten probabilities as a small image (cheap for the browser to redraw with every
    stroke or slider move) under a title, with a sentence that states the answer and the
    runner-up (lenet.describe; also the image's text alternative)."""
    from lenet import describe, viz

    text = describe.prediction(probs, t)
    if true_label is not None:
        text += " " + t("describe.true_label", label=true_label)
    box = where.container(key=key)
    box.markdown(f"**{t('draw.probs_title')}**")
    png = viz.probabilities_png(probs, true_label)  # PNG kept: "auto" would re-encode as JPEG
    # "content": the picture's own width (440 px), or its column's on a narrower screen
    box.image(png, width="content", caption=text, alt=text, output_format="PNG")


@st.cache_data(show_spinner=False, max_entries=8)
def _kernels_png(kernels: np.ndarray) -> bytes:
    from lenet import viz

    return viz.layer_image("kernels", {}, kernels)


def layer_png(name: str, activations: dict[str, np.ndarray], kernels: np.ndarray) -> bytes:
    """lenet.viz.layer_image; C1's kernels, which change only with the checkpoint, are
    encoded once per checkpoint, not with every stroke."""
    from lenet import viz

    if name == "kernels":
        return _kernels_png(np.asarray(kernels))
    return viz.layer_image(name, activations, kernels)


def kept_canvas(
    stroke_width: int, key: str, store: str = DIGIT_CANVAS, **size: int
) -> np.ndarray | None:
    """The drawing canvas, whose drawing survives a visit to another page: its strokes and
    pixels are kept in plain session keys named after ``store`` (one per drawing a student
    makes: the draw page's digit, the reading page's number). A canvas mounted again (back
    from another page: its widget state was dropped) is redrawn from the kept strokes, and
    until it sends anything the kept pixels stand for it. While a canvas lives its initial
    drawing never changes: the component reloads whenever that argument changes (undo
    history and a stroke in flight lost), so its own output is not fed back to it.
    ``size``: draw_canvas's width and height."""
    state = st.session_state
    strokes, pixels, initial = _canvas_keys(store)
    if key not in state:  # mounted on this run: first visit, after a clear, or back again
        state[initial] = state.get(strokes)
    image = draw_canvas(
        stroke_width, key, initial_drawing=state[initial], strokes_key=strokes, **size
    )
    if image is None:
        return state.get(pixels)
    state[pixels] = image
    return image


def _canvas_keys(store: str) -> tuple[str, str, str]:
    """The session keys of a kept canvas: its strokes, its pixels, its initial drawing."""
    return f"{store}_strokes", f"{store}_pixels", f"{store}_initial"


def forget_drawing(store: str = DIGIT_CANVAS) -> None:
    """Empty a kept canvas (the next canvas mounts blank); the draw page's also empties
    the shared digit."""
    for key in _canvas_keys(store):
        st.session_state.pop(key, None)
    if store == DIGIT_CANVAS:
        set_current_digit(None)


def keep(*keys: str) -> None:
    """Declare value widgets whose values survive visits to other pages (the module's
    docstring tells how); call before drawing them."""
    st.session_state.setdefault(KEPT_DECLARED, set()).update(keys)
    remember_kept()  # app.py did already; a page run alone (AppTest) needs it here
    kept = st.session_state[KEPT_WIDGETS]
    for key in keys:
        if key not in st.session_state and key in kept:
            st.session_state[key] = kept[key]


def remember_kept() -> None:
    """Copy the declared widgets' current values into ``kept_widgets`` (app.py, each run)."""
    kept = st.session_state.setdefault(KEPT_WIDGETS, {})
    for key in st.session_state.get(KEPT_DECLARED, ()):
        if key in st.session_state:
            kept[key] = st.session_state[key]


def kept_data_editor(where, data, key: str, **kwargs):
    """``where.data_editor(data, key=key, ...)`` whose edits survive a visit to another
    page. A data editor's value cannot be set, so one drawn again after its state was
    dropped starts from the student's last edited table (its own edits then apply to
    that table, once, as long as it lives)."""
    state = st.session_state
    edited, bases = state.setdefault(KEPT_EDITORS, {}), state.setdefault(f"{KEPT_EDITORS}_base", {})
    if key not in state:  # a fresh editor: the first visit, or back from another page
        bases[key] = edited.get(key, data)
    edited[key] = where.data_editor(bases[key], key=key, **kwargs)
    return edited[key]


def kept_upload(
    label: str, key: str, store: str = KEPT_UPLOAD, **kwargs
) -> tuple[str, bytes] | None:
    """A file uploader of images (lenet.preprocess.open_upload's formats) whose file survives
    a visit to another page: (name, bytes) of the current or the last kept upload (kept in
    session key ``store``); None once the student removes it."""
    from lenet.preprocess import UPLOAD_EXTENSIONS  # not at start-up: it imports Pillow

    state = st.session_state
    alive = key in state  # drawn on the last run: an empty value is a removal
    upload = st.file_uploader(label, key=key, type=list(UPLOAD_EXTENSIONS), **kwargs)
    if upload is not None:  # the name is shown in a code span: no backtick, not too long
        # the name is shown in a sentence: plain letters, digits, dots, dashes only
        name = re.sub(r"[^\w.\- ]", "_", upload.name)[:80]
        state[store] = (name, upload.getvalue())
    elif alive:
        state[store] = None
    return state.get(store)


def card_for(name: str) -> dict | None:
    """The model card of checkpoint ``name`` in models/ (cached), or None if unreadable."""
    return card_of(name, _mtime(name), str(models_dir()))


def model_for(name: str) -> LeNet5 | None:
    """The model of checkpoint ``name`` (cached and shared: never mutate it), or None if it
    cannot be loaded. Shows nothing: the caller says what is missing."""
    try:
        return _load(name, _mtime(name), str(models_dir()))
    except CheckpointError:
        return None


@st.cache_resource(show_spinner=False)
def _segment_scorer(path: str, mtime: float):
    from lenet.segments import load_scorer

    return load_scorer(path)


def segment_scorer():
    """The reader's segment scorer (lenet.segments, cached and shared: never mutate it),
    or None when models/ has none or it cannot be read: the reader then scores with the
    digit network alone."""
    from lenet.segments import scorer_path

    path = scorer_path()
    try:
        return _segment_scorer(str(path), path.stat().st_mtime)
    except (OSError, CheckpointError):
        return None


# --- The student's own models (the training page) ---------------------------------------


def session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _session_alive(session: str) -> bool:
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session)


@st.cache_resource(show_spinner=False)
def training_jobs():
    """The server's one JobRunner (lenet.jobs): shared by every session."""
    from lenet.jobs import JobRunner

    return JobRunner(is_alive=_session_alive)


def own_checkpoints() -> list[str]:
    """This session's trained models, as checkpoint-list names (oldest first)."""
    return [OWN_PREFIX + job.id for job in training_jobs().models(session_id())]


def own_job(name: str):
    """This session's job behind an ``own:`` name, or None (another session's, dropped)."""
    return training_jobs().model(session_id(), name.removeprefix(OWN_PREFIX))


def choose_checkpoint(name: str) -> None:
    """Make ``name`` the sidebar's checkpoint (the training page offers its new model)."""
    st.session_state[CHECKPOINT_KEY] = name
