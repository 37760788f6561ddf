"""Home: what the app does, a live gallery of counterfactuals from the selected model, and the pages."""
import random

import streamlit as st
from common import MAX_SEED, current_model, pages, state_key

from cgn_art import mixing
from cgn_art.mechanisms.base import MECHANISMS

GALLERY = 8
SEED_KEY = state_key("gallery", "seed")


def gallery_mixes(model, seed: int) -> list[dict]:
    """GALLERY random mixes: classes and seeds for each mechanism, drawn independently."""
    rng = random.Random(seed)
    return [{**{m: rng.choice(mixing.suggested_classes(model, m)) for m in MECHANISMS},
             **{f"{m}_seed": rng.randrange(MAX_SEED) for m in MECHANISMS}} for _ in range(GALLERY)]


def introduction() -> None:
    st.title("cgn-art: counterfactual images")
    st.write(
        "A **Counterfactual Generative Network** draws an image from three independent mechanisms: a **shape** "
        "(the mask), a **texture** (the foreground painted inside it) and a **background**. Because each takes its "
        "own class and noise, you can ask for *this* shape, in *that* texture, on *that* background: images no "
        "training photo ever showed.")


def gallery(model) -> None:
    """GALLERY mixes in rows of four, and a button that draws new ones."""
    st.session_state.setdefault(SEED_KEY, 0)
    head, button = st.columns([5, 1], vertical_alignment="bottom")
    head.subheader("A gallery of counterfactuals")
    if button.button("Shuffle", icon=":material/shuffle:", key=state_key("gallery", "shuffle"), width="stretch",
                     help="Draw eight new random mixes from the selected model."):
        st.session_state[SEED_KEY] = random.randrange(MAX_SEED)
    mixes = gallery_mixes(model, st.session_state[SEED_KEY])
    cf = model.counterfactual(*([mix[m] for mix in mixes] for m in MECHANISMS),
                              **{f"{m}_seed": [mix[f"{m}_seed"] for mix in mixes] for m in MECHANISMS}, size=160)
    names = model.class_names
    for row in range(0, GALLERY, 4):
        for column, i in zip(st.columns(4), range(row, row + 4)):
            column.image(cf.image("composite", i), output_format="PNG", width="stretch",
                         caption=" · ".join(f"{m} {names[m][mixes[i][m]]}" for m in MECHANISMS))


def page_links() -> None:
    st.subheader("What you can do")
    for info, page in pages():
        if info.default:
            continue
        st.page_link(page, label=info.title, icon=info.icon)
        st.caption(info.description)


def main() -> None:
    introduction()
    model, _ = current_model()
    gallery(model)
    page_links()


main()
