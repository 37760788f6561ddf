"""Mix: every shape in every texture on one background, and one counterfactual taken apart."""
import streamlit as st

import cgn_art
from common import class_picker, download_png, grid_note, grid_png, model_picker, seed_input

st.set_page_config(page_title="cgn-art", page_icon="🎨", layout="wide")
st.title("cgn-art: counterfactual images")
st.write("A Counterfactual Generative Network draws an image from three independent mechanisms: a "
         "**shape** (the mask), a **texture** (the foreground) and a **background**. Mix them freely.")

model, source = model_picker()

try:
    st.subheader("Every shape in every texture")
    background_col, seed_col, truncation_col, size_col = st.columns([3, 4, 2, 2], vertical_alignment="bottom")
    background = class_picker(model, "background", "Background", key="background", container=background_col,
                              help="The background every tile of the grid is drawn on.")
    seed = seed_input("seed", container=seed_col)
    truncation = truncation_col.slider(
        "Truncation", 0.05, 1.0, 1.0, 0.05, key="truncation",
        help="Scales the noise: lower values give tamer, more typical images; 1 gives the most variety.")
    tile = size_col.select_slider(
        "Tile size (px)", [16, 24, 32, 48, 64, 96, 128], value=32, key="tile_size",
        help="Pixels per tile. The model renders at any size, so larger tiles show more detail (and take longer).")
    st.image(grid_png(source, background, seed, truncation, tile), output_format="PNG",
             caption=f"Rows: shape classes. Columns: texture classes{grid_note(model)}. Background: "
                     f"{model.class_names['background'][background]}. Seed {seed}, truncation {truncation:g}.")

    st.subheader("One counterfactual, taken apart")
    shape_col, texture_col, large_col = st.columns(3)
    shape = class_picker(model, "shape", "Shape", key="shape", container=shape_col,
                         help="The shape class: decides the mask.")
    texture = class_picker(model, "texture", "Texture", key="texture", container=texture_col,
                           help="The texture class: decides the foreground painted inside the mask.")
    large = large_col.select_slider(
        "Image size (px)", [128, 256, 512, 1024], value=256, key="large_size",
        help="The size of the images below and of the downloaded PNG.")
    cf = model.counterfactual(shape, texture, background, seed=seed, truncation=truncation, size=large)
    for column, part in zip(st.columns(4), ("mask", "foreground", "background", "composite")):
        column.image(cf.image(part), caption=part, width="stretch", output_format="PNG")
    download_png(cf)
except cgn_art.CgnArtError as e:
    st.error(str(e))
