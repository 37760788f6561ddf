"""Mixer: this shape, with that texture, on that background; grids around a mix and interpolation strips.

The mix lives in the URL, so a copied link opens the same image.
"""
import io

import streamlit as st
from common import (
    MAX_SEED,
    available_models,
    class_picker,
    current_model,
    download_png,
    error_box,
    plain,
    seed_input,
    state_key,
    weights_version,
)

import cgn_art
from cgn_art import mixing
from cgn_art.grids import labelled_grid
from cgn_art.io import png_bytes, quick_jpeg
from cgn_art.mechanisms.base import MECHANISMS

SIZES = [64, 128, 256, 512, 768, 1024]
KEYS = {f: state_key("mix", f) for f in ("shape", "texture", "background", "shape_seed", "texture_seed",
                                         "background_seed", "truncation", "size")}
FROM_URL = state_key("mix", "from_url", private=True)
URL_PROBLEMS = state_key("mix", "url_problems", private=True)
HELP = {
    "shape": "The shape class: decides the mask, the outline of the object.",
    "texture": "The texture class: decides the foreground painted inside the mask.",
    "background": "The background class: decides what is behind the object.",
}
ROLE = {"shape": "mask", "texture": "foreground", "background": "background"}


@st.cache_data(max_entries=32, show_spinner=False)
def class_strip(source: str, version: int, mechanism: str) -> bytes:
    """The suggested classes of one mechanism (up to 12) as a labelled strip of its part, for picking by eye."""
    model = current_model()[0]
    classes = mixing.suggested_classes(model, mechanism)[:12]
    chosen = {m: 0 for m in MECHANISMS}
    chosen[mechanism] = classes
    cf = model.counterfactual(**chosen, seed=0, size=48)
    tiles = [cf.image(ROLE[mechanism], i) for i in range(len(classes))]
    image = labelled_grid(tiles, len(classes), [mechanism], [model.class_names[mechanism][c] for c in classes])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def load_from_url(model) -> None:
    """On a session's first visit, take the mix from the URL; say which values were ignored and why."""
    if st.session_state.get(FROM_URL):
        return
    st.session_state[FROM_URL] = True
    mix, problems = mixing.MixSettings.from_query(st.query_params.to_dict(), model)
    for name, key in KEYS.items():
        st.session_state[key] = getattr(mix, name)
    if mix.size not in SIZES:
        st.session_state[KEYS["size"]] = 256
        problems.append(f"size={mix.size} ignored: the Mixer shows {', '.join(map(str, SIZES))} px")
    if problems:
        st.session_state[URL_PROBLEMS] = problems


def header() -> None:
    st.title("Mixer")
    st.caption("Pick a class and a seed for each mechanism. The address bar always holds the current mix: "
               "copy it to share exactly this image.")
    for problem in st.session_state.pop(URL_PROBLEMS, []):
        st.warning(f"The link had a value that doesn't fit this model, so a default is used: {plain(problem)}",
                   icon=":material/link_off:")


def mix_controls(model) -> tuple[dict, mixing.MixSettings]:
    """A class and a seed per mechanism, truncation and size: (the picked classes and seeds, the mix)."""
    chosen = {}
    for column, mechanism in zip(st.columns(3), MECHANISMS):
        with column:
            chosen[mechanism] = class_picker(model, mechanism, mechanism.capitalize(), KEYS[mechanism], HELP[mechanism])
            chosen[f"{mechanism}_seed"] = seed_input(
                KEYS[f"{mechanism}_seed"], label=f"{mechanism.capitalize()} seed",
                help=f"The noise of the {mechanism} mechanism: another seed gives another {ROLE[mechanism]} "
                     "of the same class.")
    left, right = st.columns(2)
    st.session_state.setdefault(KEYS["truncation"], 1.0)
    st.session_state.setdefault(KEYS["size"], 256)
    truncation = left.slider("Truncation", 0.05, 1.0, step=0.05, key=KEYS["truncation"],
                             help="Scales the noise: lower values give tamer, more typical images; 1 gives the "
                                  "most variety.")
    size = right.select_slider("Output size (px)", SIZES, key=KEYS["size"],
                               help="Pixels per side of the images and of the downloaded PNG. The model renders "
                                    "at any size.")
    return chosen, mixing.MixSettings(**chosen, truncation=float(truncation), size=int(size)).validate(model)


def share(mix: mixing.MixSettings, source: str) -> None:
    """The mix into the address bar."""
    query = mix.to_query()
    if source in available_models():  # a shipped name; a local folder path stays out of shared links
        query["model"] = source
    st.query_params.from_dict(query)


def class_strips(source: str) -> None:
    with st.expander("All classes at a glance", icon=":material/grid_view:"):
        version = weights_version(source)
        for mechanism in MECHANISMS:
            st.image(class_strip(source, version, mechanism), output_format="PNG", caption=f"{mechanism} classes")


def composite(model, mix: mixing.MixSettings) -> None:
    """The mix, large, beside its parts (mask, foreground, background) and its download."""
    cf = mixing.render(model, mix)
    big, parts = st.columns([3, 2])
    big.image(quick_jpeg(cf.image("composite")), output_format="JPEG", width="stretch",
              caption=" · ".join(f"{m} {model.class_names[m][getattr(mix, m)]}" for m in MECHANISMS))
    with parts:
        thumbs = mixing.thumbnails(cf, 192)
        for row in (("mask", "foreground"), ("background", "composite")):
            for column, part in zip(st.columns(2), row):
                column.image(quick_jpeg(thumbs[part]), caption=part, output_format="JPEG", width="stretch")
        download_png(cf, key=state_key("mix", "download"))


def grid(model, chosen: dict, mix: mixing.MixSettings) -> None:
    """One mechanism across every class (or shapes × textures), the rest held at the mix."""
    st.subheader("Grid")
    layouts = {"vary shape": "shape", "vary texture": "texture", "vary background": "background",
               "shapes × textures": "both"}
    layout = st.segmented_control(
        "Grid", list(layouts), key=state_key("mix", "grid"), label_visibility="collapsed",
        help="Hold two mechanisms at the mix above and walk the third across every class, or show every "
             "shape in every texture on the chosen background.")
    if not layout:
        return
    tile = st.select_slider("Tile size (px)", [32, 48, 64, 96, 128], value=64, key=state_key("mix", "tile"),
                            help="Pixels per tile of the grid (the tiles in the ZIP have this size too).")
    names = model.class_names
    tile_mix = mixing.MixSettings(**{**chosen, "truncation": mix.truncation, "size": tile})
    if layouts[layout] == "both":
        cf_grid, rows, cols = mixing.shapes_by_textures(model, tile_mix)
        columns_n = len(cols)
        row_names = [names["shape"][r] for r in rows]
        column_names = [names["texture"][c] for c in cols]
    else:
        mechanism = layouts[layout]
        cf_grid = mixing.vary(model, tile_mix, mechanism)
        columns_n = len(cf_grid)
        row_names = [f"vary {mechanism}"]
        column_names = [names[mechanism][c] for c in getattr(cf_grid, f"{mechanism}_class")]
    image = labelled_grid([cf_grid.image("composite", i) for i in range(len(cf_grid))], columns_n,
                          row_names, column_names)
    st.image(image, output_format="PNG")
    st.download_button("Download grid (ZIP)", lambda: mixing.zip_of(cf_grid, names, image), file_name="cgn-grid.zip",
                       mime="application/zip", key=state_key("mix", "grid_zip"), on_click="ignore",
                       help="Every tile as its own PNG (with its settings inside), and the whole grid.")


def interpolation(model, mix: mixing.MixSettings) -> None:
    """A strip that walks one mechanism from the mix to another class and/or seed, and its downloads."""
    st.subheader("Interpolation")
    walk_on = st.toggle("Walk one mechanism", key=state_key("mix", "walk"),
                        help="Walk one mechanism from the mix above to another class and/or seed in a few "
                             "steps, the other two held still.")
    if not walk_on:
        return
    a, b, c, d = st.columns(4)
    mechanism = a.selectbox("Mechanism to walk", MECHANISMS, key=state_key("walk", "mechanism"),
                            help="Which mechanism changes along the strip.")
    to_class = class_picker(model, mechanism, "To class", state_key("walk", "to", mechanism), container=b,
                            help="The class the walk ends on (the start is the mix above).")
    to_seed = c.number_input("To seed", 0, MAX_SEED, value=getattr(mix, f"{mechanism}_seed"),
                             key=state_key("walk", "seed", mechanism),
                             help="The seed the walk ends on; the same seed as the mix walks the class only.")
    steps = d.slider("Steps", 2, 16, 8, key=state_key("walk", "steps"), help="Images in the strip, both ends included.")
    strip_mix = mixing.MixSettings(**{**vars(mix), "size": min(mix.size, 256)})
    strip = mixing.interpolate(model, strip_mix, mechanism, to_class=to_class, to_seed=int(to_seed), steps=steps)
    strip_png = mixing.strip_image(strip)
    st.image(strip_png, output_format="PNG", width="stretch",
             caption=f"{mechanism}: {model.class_names[mechanism][getattr(mix, mechanism)]} → "
                     f"{model.class_names[mechanism][to_class]}")
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download strip (PNG)", lambda: png_bytes(strip_png, strip.extra), file_name="cgn-walk.png",
                       mime="image/png", key=state_key("walk", "png"), on_click="ignore",
                       help="The strip as one PNG, with the walk's settings inside.")
    d2.download_button("Download loop (GIF)", lambda: mixing.gif_bytes(strip), file_name="cgn-walk.gif",
                       mime="image/gif", key=state_key("walk", "gif"), on_click="ignore",
                       help="The walk as a looping animation: forwards, then back.")
    d3.download_button("Download loop (MP4)", lambda: mixing.mp4_bytes(strip), file_name="cgn-walk.mp4",
                       mime="video/mp4", key=state_key("walk", "mp4"), on_click="ignore",
                       help="The walk as a short video (forwards and back, three times), for sharing where "
                            "GIFs are not welcome.")


# A fragment: a change of its controls reruns and redraws only this part, not the page around it
# (title, sidebar, navigation). The load benchmark with and without it is in the README
# ("Reliability"): four users beside two renders came within 2x of a lone user with it.
@st.fragment
def mixer(model, source: str) -> None:
    try:
        chosen, mix = mix_controls(model)
        share(mix, source)
        class_strips(source)
        composite(model, mix)
        grid(model, chosen, mix)
        interpolation(model, mix)
    except cgn_art.CgnArtError as e:
        error_box(e)


def main() -> None:
    model, source = current_model()
    load_from_url(model)
    header()
    mixer(model, source)


main()
