"""LeNet-5, interactively: `make run` (`python -m lenet.server`, which is `streamlit run
app.py` with the two fixes lenet/server.py explains).

Page config, navigation and the shared sidebar (language, checkpoint); nothing else."""

import os

import streamlit as st

from lenet import ui

t = ui.t
ui.init_language()
st.set_page_config(page_title=t("common.app_title"), page_icon=":material/draw:", layout="wide")

# The landing page is the draw page; LENET_START_PAGE (e.g. "pooling") picks another one,
# for a classroom kiosk, and lets AppTest run any page through this script.
start = os.environ.get("LENET_START_PAGE", "draw")
pages = [
    st.Page(f"pages/{name}.py", title=t(f"nav.{name}"), icon=icon, default=name == start)
    for name, icon in ui.PAGES.items()
]
page = st.navigation(pages)
ui.remember_kept()  # students' settings on every page outlive visits to other pages

with st.sidebar:
    ui.language_switch()
    ui.checkpoint_picker()
    st.caption(t("common.sidebar_about"))

page.run()
