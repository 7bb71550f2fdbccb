import streamlit as st

from lenet import ui

st.title(ui.t("nav.model_card"))
