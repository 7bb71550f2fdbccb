import streamlit as st

from lenet import ui

st.title(ui.t("nav.exercises"))
