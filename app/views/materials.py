"""Materials: your own textures and backgrounds, made from photos, for every page.

Upload 1-20 photos, name the material, look at it at 256 px and crisp at 1080 px beside the photo,
and save it: the model picked in the sidebar gains the class as a user model (``my-letters`` for
``letters``), which the sidebar then offers on every page. Materials you added can be deleted.
"""
import streamlit as st
from common import MODEL_KEY, current_model, error_box, state_key

import cgn_art
from cgn_art.materials.photos import MAX_PHOTOS, check_material_name, photo_sources
from cgn_art.materials.preview import material_preview, photos_preview
from cgn_art.materials.store import add_material, check_model_name, remove_material, user_classes, user_models

TYPES = ["jpg", "jpeg", "png", "webp"]
KEYS = {name: state_key("materials", name) for name in ("kind", "name", "photos", "into", "seed")}
SAVED = state_key("materials", "saved", private=True)
FAILED = state_key("materials", "failed", private=True)


def header() -> None:
    st.title("Materials")
    st.caption("Make a texture or a background from your own photos: moss, rust, marble, a city at night, your "
               "own artwork. A new texture is synthesised from the photos for every seed, at any size, at the "
               "photos' own pixel scale. The shape is not retrained; saving takes seconds.")


def _uploads(files) -> tuple[list[bytes], list[str], list]:
    """The uploaded photos' bytes, names and regions (each photo's region from its two range sliders)."""
    data, names, regions = [], [], []
    for i, f in enumerate(files):
        with st.expander(f"Region of {f.name}", expanded=False):
            x = st.slider("Left to right", 0.0, 1.0, (0.0, 1.0), 0.05, key=state_key("materials", "x", i),
                          help="The part of the photo's width to use, e.g. to leave out a frame or the sky.")
            y = st.slider("Top to bottom", 0.0, 1.0, (0.0, 1.0), 0.05, key=state_key("materials", "y", i),
                          help="The part of the photo's height to use.")
        data.append(f.getvalue())
        names.append(f.name)
        regions.append(None if (x, y) == ((0.0, 1.0), (0.0, 1.0)) else (x[0], y[0], x[1], y[1]))
    return data, names, regions


@st.cache_data(max_entries=8, show_spinner="Making the material…")
def previews(data: tuple[bytes, ...], names: tuple[str, ...], regions: tuple, side: int, seed: int) -> tuple:
    """(256 px picture at the Mixer's scale, 1080 px crisp picture) of a material from these photos."""
    sources = photo_sources(list(data), list(names), list(regions))
    return (photos_preview(sources, side, 256, seed=seed, material_scale=1.0),
            photos_preview(sources, side, 1080, seed=seed))


def _target(source: str) -> str:
    return source if source in user_models() else f"my-{source.rstrip('/').split('/')[-1]}"


def _save(source: str, data: list[bytes], names: list[str], regions: list) -> None:
    """Button callback: save the material; the sidebar then shows the model that holds it."""
    state = st.session_state
    try:
        path = add_material(source, state[KEYS["kind"]], state[KEYS["name"]], data, regions, names,
                            into=state[KEYS["into"]].strip() or None)
    except cgn_art.CgnArtError as e:
        state[FAILED] = str(e)
        return
    state[SAVED] = f"{state[KEYS['kind']].capitalize()} '{check_material_name(state[KEYS['name']])}' saved in " \
                   f"the model '{path.name}', now picked in the sidebar: use it on every page."
    state[MODEL_KEY] = path.name


def add_section(model, source: str) -> None:
    st.subheader("Add a material")
    a, b = st.columns([1, 2])
    kind = a.radio("It is a", ["texture", "background"], key=KEYS["kind"], horizontal=True,
                   help="A texture paints the letters or shapes; a background fills the picture behind them.")
    name = b.text_input("Name", key=KEYS["name"], max_chars=40, placeholder="e.g. moss",
                        help="How the material is listed in the class pickers: 1-40 letters, digits, spaces, - or _.")
    files = st.file_uploader(f"Photos (1-{MAX_PHOTOS}: JPEG, PNG or WebP)", type=TYPES, accept_multiple_files=True,
                             key=KEYS["photos"], help="Photos of the material, any size (larger ones are kept at "
                             "1024 px). Several photos give more variety; each can be cut to a region below.")
    st.text_input("Save into the model", value=_target(source), key=KEYS["into"],
                  help="The user model that gets the material: the model picked in the sidebar if it is yours, "
                       "else a copy of it named my-….")
    if not files:
        st.info("Upload photos of a material to see it here.")
        return
    if len(files) > MAX_PHOTOS:
        st.error(f"{len(files)} photos: a material takes 1 to {MAX_PHOTOS}. Remove some.")
        return
    data, names, regions = _uploads(files)
    left, middle, right = st.columns([1, 1, 2])
    seed = middle.number_input("Seed", 0, 10**6, 0, key=KEYS["seed"], help="Another seed, another texture.")
    try:
        small, large = previews(tuple(data), tuple(names), tuple(regions), model.config.exemplar_side, int(seed))
    except cgn_art.CgnArtError as e:
        error_box(e)
        return
    left.image(files[0].getvalue(), caption=f"{files[0].name} (the photo)", width="stretch")
    middle.image(small, caption="256 px, as in the Mixer")
    right.image(large, caption="1080 px, crisp (its own pixels)")
    try:
        ready = bool(name.strip()) and check_material_name(name) and check_model_name(st.session_state[KEYS["into"]])
    except cgn_art.CgnArtError as e:
        error_box(e)
        ready = False
    st.button(f"Save the {kind}", type="primary", disabled=not ready, key=state_key("materials", "save"),
              on_click=_save, args=(source, data, names, regions),
              help="Adds the material to the model named above (written safely: a crash never leaves half a model).")


def yours_section(model, source: str) -> None:
    st.subheader("Materials in this model")
    for kind in ("texture", "background"):
        mine = user_classes(model, kind)
        names = model.class_names[kind]
        st.markdown(f"**{kind.capitalize()}s** ({len(names)}): " + ", ".join(
            f"**{n}** (yours)" if n in mine else n for n in names))
        for n in mine:
            a, b = st.columns([3, 1])
            a.image(material_preview(model, kind, n, 256)[0], caption=f"{n}, crisp", width=192)
            if b.button(f"Delete {n}", key=state_key("materials", "delete", kind, n),
                        help="Removes this material from the model (materials that came with it stay)."):
                try:
                    remove_material(source, kind, n)
                except cgn_art.CgnArtError as e:
                    error_box(e)
                else:
                    st.rerun()


def main() -> None:
    header()
    for key, show in ((SAVED, st.success), (FAILED, st.error)):
        if key in st.session_state:
            show(st.session_state.pop(key))
    model, source = current_model()
    if not getattr(model, "exemplar_fields", False):
        st.info(f"The model '{source}' draws its textures with a network, not from materials. Pick 'letters' "
                "(or a model of yours) in the sidebar to add materials.")
        return
    add_section(model, source)
    yours_section(model, source)


main()
