"""Streamlit glue shared by app.py and the pages: language, checkpoint choice, cached model
loading, and the drawn digit shared between pages. With lenet/server.py (the launcher),
the only module of the library that imports Streamlit.

Session-state keys (documented here, used by several pages):
- ``lang``: "en" or "zh", the sidebar's language switch (also ``?lang=`` in the URL).
- ``checkpoint``: file name of the chosen checkpoint in ``models/``.
- ``digit``: the current 28x28 uint8 image from the draw page (or None), which the pooling
  and kernel-gradient pages reuse ("on your drawing").

A model the student trained on the training page joins the checkpoint list of that
session only, as ``own:<job id>`` (``OWN_PREFIX``); it lives in ``training_jobs()``,
never in models/.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from lenet.checkpoint import MODELS_DIR, CheckpointError, load_checkpoint, read_card
from lenet.i18n import LANGUAGES, normalise_language, translate
from lenet.model import LeNet5
from lenet.server import use_app_navigation

LANG_KEY, CHECKPOINT_KEY, DIGIT_KEY = "lang", "checkpoint", "digit"
# The pages, in navigation order: script name in pages/ (also the URL path) -> icon.
PAGES = {
    "draw": ":material/draw:",
    "architecture": ":material/account_tree:",
    "pooling": ":material/grid_view:",
    "kernel_gradient": ":material/functions:",
    "model_card": ":material/analytics:",
    "train": ":material/model_training:",
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
    """Every shipped checkpoint, classic first."""
    names = sorted(
        p.name
        for p in MODELS_DIR.glob("*.safetensors")
        if not p.name.endswith(".resume.safetensors")
    )
    return sorted(names, key=lambda n: (n != DEFAULT_CHECKPOINT, n))


@st.cache_data(show_spinner=False)
def card_of(name: str, mtime: float) -> dict | None:
    try:
        return read_card(MODELS_DIR / name)
    except CheckpointError:
        return None


def _mtime(name: str) -> float:
    try:
        return (MODELS_DIR / name).stat().st_mtime
    except OSError:
        return 0.0


def checkpoint_label(name: str) -> str:
    if name.startswith(OWN_PREFIX):
        job = own_job(name)
        if job is None or job.result is None:
            return t("common.own_gone")
        return t("common.own_option", number=job.number, accuracy=job.result["test_accuracy"])
    card = card_of(name, _mtime(name))
    variant = name.removeprefix("lenet5-").removesuffix(".safetensors")
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
def _load(name: str, mtime: float) -> LeNet5:
    return load_checkpoint(MODELS_DIR / name)


def current_model() -> LeNet5 | None:
    """The chosen checkpoint's model (shared by every session: never mutate it), or None
    after showing why it cannot be loaded."""
    name = st.session_state.get(CHECKPOINT_KEY) or DEFAULT_CHECKPOINT
    if name.startswith(OWN_PREFIX):
        if (job := own_job(name)) is not None:
            return job.model
        st.session_state[CHECKPOINT_KEY] = name = DEFAULT_CHECKPOINT  # dropped: back to classic
    try:
        return _load(name, _mtime(name))
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
    return digit


def set_current_digit(image28: np.ndarray | None) -> None:
    st.session_state[DIGIT_KEY] = image28


@st.cache_resource(show_spinner=False)
def _sample(mtime: float):
    from lenet.sample import SAMPLE_PATH, read_sample

    return read_sample(SAMPLE_PATH)


def sample():
    """The shipped MNIST sample (models/mnist-sample.npz), or None if it is missing."""
    from lenet.sample import SAMPLE_PATH

    try:
        mtime = SAMPLE_PATH.stat().st_mtime
    except OSError:
        return None
    return _sample(mtime)


def draw_canvas(stroke_width: int, key: str) -> np.ndarray | None:
    """The drawing canvas (white ink on black); returns its RGBA pixels, or None before the
    first stroke. Tests patch this function: AppTest cannot drive a custom component."""
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=280,
        width=280,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
    return result.image_data


def card_for(name: str) -> dict | None:
    """The model card of checkpoint ``name`` in models/ (cached), or None if unreadable."""
    return card_of(name, _mtime(name))


def model_for(name: str) -> LeNet5 | None:
    """The model of checkpoint ``name`` (cached and shared: never mutate it), or None if it
    cannot be loaded. Shows nothing: the caller says what is missing."""
    try:
        return _load(name, _mtime(name))
    except CheckpointError:
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
