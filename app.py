"""LeNet-5, interactively: `streamlit run app.py`.

Page config, navigation and the shared sidebar (language, checkpoint); nothing else."""

import streamlit as st

from lenet import ui

st.set_page_config(page_title="LeNet-5", page_icon=":material/draw:", layout="wide")
ui.init_language()
t = ui.t

pages = [
    st.Page("pages/draw.py", title=t("nav.draw"), icon=":material/draw:", default=True),
    st.Page("pages/architecture.py", title=t("nav.architecture"), icon=":material/account_tree:"),
    st.Page("pages/pooling.py", title=t("nav.pooling"), icon=":material/grid_view:"),
    st.Page(
        "pages/kernel_gradient.py", title=t("nav.kernel_gradient"), icon=":material/functions:"
    ),
    st.Page("pages/model_card.py", title=t("nav.model_card"), icon=":material/analytics:"),
    st.Page("pages/exercises.py", title=t("nav.exercises"), icon=":material/quiz:"),
]
page = st.navigation(pages)

with st.sidebar:
    ui.language_switch()
    ui.checkpoint_picker()
    st.caption(t("common.sidebar_about"))

page.run()
