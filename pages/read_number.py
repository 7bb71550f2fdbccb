"""Write a whole number and watch LeNet-5 read it: segmentation by recognition (the pieces,
the candidate graph, the best path) and the sliding view (the network at every position)."""

import streamlit as st

from lenet import ui, viz
from lenet.preprocess import UploadError, open_upload, photo_to_ink
from lenet.reading import UNSURE, ReadingError, ink_of, read_number, sliding_outputs

t = ui.t
# Wide: about 4:1, room for 8 digits; narrow: fits a phone's screen (360 CSS pixels wide
# or more, less the page's margins), the default on a phone.
CANVAS_SIZES = {"wide": (960, 240), "narrow": (320, 112)}
THUMBNAIL = 84
SOURCES = ("canvas", "upload")

# The student's settings survive a visit to another page (lenet.ui.keep).
ui.keep("rn_source", "rn_stroke_width", "rn_canvas_size")
st.title(t("read_number.title"))
st.markdown(t("read_number.intro"))
model = ui.current_model()
source = st.segmented_control(
    t("read_number.source"),
    SOURCES,
    format_func=lambda s: t(f"read_number.source_{s}"),
    default="canvas",
    key="rn_source",
)


def show_reading(image) -> bool:
    """The number read from ``image`` (a canvas or an ink map) and how; False if blank."""
    try:
        reading = read_number(image, model, ui.segment_scorer())
        positions, probabilities = sliding_outputs(image, model)
    except ReadingError as e:
        st.error(t(f"read_number.error_{e.reason}", **e.fields))
        return True
    if not reading.digits:
        return False
    with st.container(key="reading"):
        st.metric(t("read_number.read_label", n=len(reading.digits)), reading.digits)
    if not reading.looks_like_digits:
        st.warning(t("read_number.not_digits"))
    lines = [
        t("read_number.digit_line", position=i + 1, digit=d, confidence=c)
        + (t("read_number.unsure", threshold=UNSURE) if unsure else "")
        for i, (d, c, unsure) in enumerate(
            zip(reading.digits, reading.confidences, reading.unsure, strict=True)
        )
    ]
    st.markdown("\n".join(f"- {line}" for line in lines))
    if not any(reading.unsure):
        st.caption(t("read_number.all_sure", threshold=UNSURE))
    figure = viz.reading_figure(ink_of(image), reading, positions, probabilities, t)
    ui.chart(st, figure, key="rn_figure")
    st.caption(t("read_number.figure_caption", n=len(reading.digits), digits=reading.digits))
    show_inputs(reading)
    show_graph(reading)
    return True


def show_inputs(reading) -> None:
    st.subheader(t("read_number.inputs_title"))
    per_row = 8
    for row in range(0, len(reading.digits), per_row):
        cols = st.columns(per_row)
        for col, d, c, unsure, image in zip(
            cols,
            reading.digits[row:],
            reading.confidences[row:],
            reading.unsure[row:],
            reading.images[row:],
            strict=False,
        ):
            key = "read_number.input_caption_unsure" if unsure else "read_number.input_caption"
            ui.image(
                col,
                viz.thumbnail(image, THUMBNAIL),
                width=THUMBNAIL,
                caption=t(key, digit=d, confidence=c),
            )


def show_graph(reading) -> None:
    st.subheader(t("read_number.cut_title"))
    st.markdown(
        t(
            "read_number.cut_text",
            pieces=len(reading.pieces),
            cuts=len(reading.cuts),
            candidates=len(reading.candidates),
        )
    )
    ui.chart(st, viz.segmentation_graph(reading, t), key="rn_graph")
    st.caption(t("read_number.graph_caption", digits=reading.digits, score=reading.score))
    st.subheader(t("read_number.sliding_title"))
    st.markdown(t("read_number.sliding_text"))


@st.fragment
def canvas_view() -> None:
    st.session_state.setdefault("rn_generation", 0)
    controls = st.columns([2, 1, 1])
    default_size = "narrow" if ui.on_a_phone() else "wide"
    width = controls[0].slider(t("read_number.stroke_width"), 6, 40, 16, key="rn_stroke_width")
    size = controls[1].segmented_control(
        t("read_number.canvas_size"),
        list(CANVAS_SIZES),
        format_func=lambda s: t(f"read_number.canvas_size_{s}"),
        default=default_size,
        key="rn_canvas_size",
    )
    size = size or default_size
    store = f"rn_canvas_{size}"  # each size keeps its own writing, in its own coordinates
    if controls[2].button(t("read_number.clear"), key="rn_clear", icon=":material/delete:"):
        st.session_state["rn_generation"] += 1
        ui.forget_drawing(store)
    canvas_width, canvas_height = CANVAS_SIZES[size]
    drawing = ui.kept_canvas(
        width,
        key=f"{store}_{st.session_state['rn_generation']}",
        store=store,
        width=canvas_width,
        height=canvas_height,
    )
    st.caption(t("read_number.canvas_caption"))
    if drawing is None or not show_reading(drawing):
        st.info(t("read_number.hint_blank"))


def upload_view() -> None:
    upload = ui.kept_upload(t("read_number.upload_label"), key="rn_upload", store="rn_kept_upload")
    if upload is None:
        st.info(t("read_number.hint_upload"))
        return
    name, data = upload
    st.caption(t("read_number.upload_shown", name=name))
    try:
        image, notes = open_upload(data)
    except UploadError as e:
        st.error(t(f"read_number.upload_{e.reason}", **e.fields))
        return
    for note in notes:
        st.caption(t(f"read_number.upload_note_{note}"))
    if not show_reading(photo_to_ink(image)):
        st.warning(t("read_number.upload_no_ink"))


if model is None:
    st.stop()
if source == "upload":
    upload_view()
else:
    canvas_view()
