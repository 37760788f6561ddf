"""Type: a phrase set in the Letters CGN's masks, painted by its texture and background mechanisms.

The poster lives in the URL, so a copied link opens the same poster; the PNG carries its settings.
"""
import random

import streamlit as st
from common import (
    MAX_SEED,
    available_models,
    current_model,
    error_box,
    get_model,
    plain,
    quick_png,
    state_key,
    weights_version,
)

import cgn_art
from cgn_art.io import png_bytes
from cgn_art.typeset import (
    ALIGNS,
    BACKGROUND_BY,
    FORMATS,
    LETTERS,
    LIMITS,
    TEXTURE_BY,
    TypeSettings,
    digit_model_name,
    is_letters_model,
    letters_status,
    render_poster,
    roll_labels,
)

ROLLS = state_key("type", "letter_seeds")
FROM_URL = state_key("type", "from_url", private=True)
URL_PROBLEMS = state_key("type", "url_problems", private=True)
TEXTURE_HELP = {"all": "one texture class for every letter", "word": "one class per word",
                "letter": "one class per letter", "walk": "a blend from the first class to the last, letter by letter"}


def letters_model():
    """(model, source): the sidebar's model when it is a letters model, else the shipped Letters CGN."""
    model, source = current_model()
    if is_letters_model(model):
        return model, source
    shipped, message = letters_status()
    if not shipped:
        return None, message
    return get_model(LETTERS), LETTERS


@st.cache_data(max_entries=16, show_spinner=False)
def poster_of(source: str, version: int, digits: str | None, settings: dict):
    """The rendered poster: (image, metadata, warning, letters, summary), cached per settings."""
    model = get_model(source)
    digit_model = get_model(digits) if digits else None
    poster = render_poster(model, TypeSettings.from_dict(settings), digit_model)
    layout = poster.layout
    letters = [(g.index, g.char) for g in sorted(layout.glyphs, key=lambda g: g.index)]
    summary = (f"{layout.width}×{layout.height} px · {len(letters)} letters on {layout.lines} line(s) · "
               f"letters {layout.cap:.0f} px high")
    return poster.image, poster.metadata(), poster.warning, letters, summary


def load_from_url(model) -> None:
    """On a session's first visit, take the poster from the URL; say which values were ignored."""
    if st.session_state.get(FROM_URL):
        return
    st.session_state[FROM_URL] = True
    settings, problems = TypeSettings.from_query(st.query_params.to_dict(), model)
    for name, value in vars(settings).items():
        st.session_state[state_key("type", name)] = [] if value is None else value
    st.session_state[ROLLS] = dict(settings.letter_seeds)
    if problems:
        st.session_state[URL_PROBLEMS] = problems


def _roll(index: int) -> None:
    st.session_state.setdefault(ROLLS, {})[index] = random.randint(0, MAX_SEED)


def _roll_all() -> None:
    st.session_state[ROLLS] = {}
    st.session_state[state_key("type", "seed")] = random.randint(0, MAX_SEED)


def _number(column, label: str, name: str, step, help: str):
    low, high = LIMITS[name]
    return column.number_input(label, low, high, step=step, key=state_key("type", name), help=help)


def _slider(column, label: str, name: str, step, help: str):
    return column.slider(label, *LIMITS[name], step=step, key=state_key("type", name), help=help)


def header() -> None:
    st.title("Type")
    st.caption("Set a phrase in counterfactual letters: each letter is a mask from the Letters CGN's shape "
               "mechanism, painted by its texture and background mechanisms. The address bar holds the poster.")


def url_problems() -> None:
    for problem in st.session_state.pop(URL_PROBLEMS, []):
        st.warning(f"The link had a value that doesn't fit, so a default is used: {plain(problem)}",
                   icon=":material/link_off:")


def text_and_format() -> dict:
    """The text, the poster's format and size, the alignment and the letter size."""
    text = st.text_area("Text", key=state_key("type", "text"), height=90,
                        help="The words to set. Lowercase becomes capitals; a new line starts a new line; "
                             "punctuation leaves a gap; digits use a digit model when one ships.")
    a, b, c = st.columns(3)
    fmt = a.selectbox("Format", list(FORMATS), key=state_key("type", "format"),
                      format_func=lambda f: f"{f} ({FORMATS[f][0]}×{FORMATS[f][1]})" if FORMATS[f] else "custom",
                      help="The poster's shape: square and portrait for posts, story for phone screens, "
                           "landscape for screens and banners, or a custom size up to 4096 px.")
    align = b.selectbox("Alignment", ALIGNS, key=state_key("type", "align"),
                        help="Where each line sits between the margins.")
    letter_size = _number(c, "Letter size (px, 0 = fit)", "letter_size", 10,
                          "The height of a capital in pixels; 0 sets the text as large as fits the poster.")
    width, height = FORMATS.get(fmt) or (1080, 1350)
    if fmt == "custom":
        w, h = st.columns(2)
        width = _number(w, "Width (px)", "width", 10, "Width of the custom canvas in pixels.")
        height = _number(h, "Height (px)", "height", 10, "Height of the custom canvas in pixels.")
    return dict(text=text, format=fmt, width=int(width), height=int(height), align=align,
                letter_size=int(letter_size))


def paint(model) -> dict:
    """Which texture and background classes paint the letters, and how they change along the text."""
    names = model.class_names
    t1, t2, b1, b2 = st.columns([1, 2, 1, 2])
    texture_by = t1.selectbox("Texture by", TEXTURE_BY, key=state_key("type", "texture_by"),
                              format_func=lambda m: m, help="; ".join(f"{k}: {v}" for k, v in TEXTURE_HELP.items()))
    textures = t2.multiselect("Texture classes", range(len(names["texture"])), key=state_key("type", "textures"),
                              format_func=names["texture"].__getitem__,
                              help="The texture classes to use (none picked: all of the model's). 'all' uses the "
                                   "first; word and letter cycle through them; walk blends from the first to the last.")
    background_by = b1.selectbox("Background by", BACKGROUND_BY, key=state_key("type", "background_by"),
                                 help="all: one background; line: one per line, cross-faded between lines.")
    backgrounds = b2.multiselect("Background classes", range(len(names["background"])),
                                 key=state_key("type", "backgrounds"), format_func=names["background"].__getitem__,
                                 help="The background classes to use (none picked: all of the model's); per line "
                                      "they are used in turn.")
    return dict(texture_by=texture_by, textures=list(textures) or None, background_by=background_by,
                backgrounds=list(backgrounds) or None)


def noise() -> dict:
    """The seed (with a button that rolls the whole poster) and the truncation."""
    s1, s2, s3 = st.columns([2, 1, 2], vertical_alignment="bottom")
    seed = s1.number_input("Seed", 0, MAX_SEED, step=1, key=state_key("type", "seed"),
                           help="Every letter's noise derives from this seed: another seed redraws the whole poster.")
    s2.button("Roll all", icon=":material/casino:", key=state_key("type", "roll_all"), width="stretch",
              on_click=_roll_all, help="A new seed for the whole poster (forgets the letters rolled one by one).")
    truncation = _slider(s3, "Truncation", "truncation", 0.05,
                         "Scales the noise: lower values give tamer, more typical letters and textures.")
    return dict(seed=int(seed), letter_seeds=dict(st.session_state.get(ROLLS, {})), truncation=float(truncation))


def spacing() -> dict:
    with st.expander("Spacing and texture size"):
        x1, x2, x3, x4, x5, x6 = st.columns(6)
        margin = _slider(x1, "Margin", "margin", 0.01,
                         "The empty border, as a fraction of the poster's shorter side.")
        tracking = _slider(x2, "Letter spacing", "tracking", 0.01,
                           "Space between letters, in letter heights (negative: letters touch).")
        word_space = _slider(x3, "Word spacing", "word_space", 0.05, "Space between words, in letter heights.")
        line_spacing = _slider(x4, "Line spacing", "line_spacing", 0.05, "Baseline to baseline, in letter heights.")
        texture_scale = _slider(x5, "Texture zoom", "texture_scale", 0.25,
                                "Zoom into the texture and background: 1 spreads one painting over the poster; "
                                "2 shows its corner twice as large.")
        material_scale = _slider(x6, "Material scale", "material_scale", 0.05,
                                 "0: crisp, one pixel of the material (its photos) per poster pixel; 1: as large as "
                                 "at the model's native size, a background spanning the poster (soft when large). "
                                 "Models with materials only.")
    return dict(margin=margin, tracking=tracking, word_space=word_space, line_spacing=line_spacing,
                texture_scale=float(texture_scale), material_scale=float(material_scale))


def controls(model) -> TypeSettings:
    values = {**text_and_format(), **paint(model), **noise(), **spacing()}
    return TypeSettings(**values).validate(model)


def share(settings: TypeSettings, source: str) -> None:
    """The poster into the address bar."""
    query = settings.to_query()
    if source in available_models():
        query["model"] = source
    st.query_params.from_dict(query)


def poster(settings: TypeSettings, source: str) -> list[tuple[int, str]]:
    """The poster, its download and the command that makes it again; returns its letters (index, char)."""
    digits = digit_model_name()
    image, metadata, warning, letters, summary = poster_of(source, weights_version(source), digits,
                                                           settings.to_dict())
    if warning:
        st.warning(warning[0].upper() + warning[1:], icon=":material/text_format:")
    left, right = st.columns([3, 1])
    left.image(quick_png(image), output_format="PNG", width="stretch", caption=summary)
    with right:
        st.download_button("Download PNG", lambda: png_bytes(image, metadata), file_name="cgn-type.png",
                           mime="image/png", key=state_key("type", "download"), on_click="ignore",
                           icon=":material/download:",
                           help="The poster as a PNG with its settings inside: `cgn-art type --settings "
                                "cgn-type.png` makes it again.")
        st.code("cgn-art type --settings cgn-type.png -o again.png", language="bash", wrap_lines=True)
    return letters


def roll_buttons(letters: list[tuple[int, str]]) -> None:
    st.caption("Roll one letter: a new seed for that letter alone (its shape, and its texture when textures go "
               "by letter).")
    per_row = 13
    labels = roll_labels([char for _, char in letters])
    for row in range(0, len(letters), per_row):
        for column, (index, char), label in zip(st.columns(per_row), letters[row:row + per_row],
                                                labels[row:row + per_row]):
            column.button(label, key=state_key("type", "roll", index), on_click=_roll, args=(index,),
                          width="stretch", help=f"Roll letter {index + 1} ({char}): draw it again with a new seed.")


def main() -> None:
    header()
    model, source = letters_model()
    if model is None:
        st.info(source, icon=":material/hourglass_top:")
        return
    load_from_url(model)
    url_problems()
    try:
        settings = controls(model)
        share(settings, source)
        letters = poster(settings, source)
        roll_buttons(letters)
    except cgn_art.CgnArtError as e:
        error_box(e)


main()
