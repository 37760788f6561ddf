"""The cgn-art app: the entry script `make run` starts. It sets up the page, the model picker in the
sidebar (shared by every page) and the navigation; each page is one file in app/views/."""
import streamlit as st
from common import model_picker, set_pages

st.set_page_config(page_title="cgn-art", page_icon="🎨", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/mixer.py", title="Mixer", icon=":material/tune:"),
    st.Page("views/type.py", title="Type", icon=":material/text_fields:"),
    st.Page("views/dance.py", title="Latent Dance", icon=":material/music_note:"),
    st.Page("views/stylizer.py", title="Texture Stylizer", icon=":material/brush:"),
    st.Page("views/robustness.py", title="Robustness Lab", icon=":material/science:"),
]

navigation = st.navigation(PAGES)
set_pages(PAGES)
model_picker()
navigation.run()
