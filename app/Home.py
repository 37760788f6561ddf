"""The cgn-art app: the entry script `make run` starts. It sets up the page, the model picker in the
sidebar (shared by every page) and the navigation; each page is one file in app/views/, registered
in app/page_registry.py."""
import streamlit as st
from common import model_picker, set_pages
from page_registry import PAGES

st.set_page_config(page_title="cgn-art", page_icon="🎨", layout="wide")

pages = [st.Page(info.file, title=info.title, icon=info.icon, default=info.default) for info in PAGES]
navigation = st.navigation(pages)
set_pages(list(zip(PAGES, pages)))
model_picker()
navigation.run()
