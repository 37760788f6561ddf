"""Caching and widgets every page shares. Pages call the library through these, never a model's layers."""
from __future__ import annotations

import io
import random
import shutil
import tempfile
import weakref
from pathlib import Path

import streamlit as st

import cgn_art
from cgn_art.io import png_bytes

MAX_SEED = 2**31 - 1
SOURCE_KEY = "_model_source"


# Models ------------------------------------------------------------------------------------

def available_models() -> dict[str, Path]:
    """Every model that can be loaded by name: the shipped ones, and the ImageNet CGN when configured."""
    return dict(cgn_art.available_models())


def weights_version(name_or_folder: str) -> int:
    """The weights file's mtime, so retrained weights are picked up without restarting the server."""
    folder = available_models().get(name_or_folder) or Path(name_or_folder)
    try:
        return max(p.stat().st_mtime_ns for p in Path(folder).glob("*.safetensors"))
    except (OSError, ValueError):
        return 0  # load_model raises the readable error


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _load_model(name_or_folder: str, version: int):
    return cgn_art.load_model(name_or_folder, device="auto")


def get_model(name_or_folder: str):
    """The model, loaded once per process (and again only when its weights file changes)."""
    return _load_model(name_or_folder, weights_version(name_or_folder))


def model_picker():
    """Sidebar: pick a model (or a model folder); returns (model, source) and remembers it for the page.

    ``source`` is the name or folder it was loaded from, the cache key for work done with it.
    A folder that does not load is reported with st.error and the picked model is used instead.
    """
    models = available_models()
    if not models:
        st.error("No models found in assets/models. Train one (see the README) or reinstall cgn-art.")
        st.stop()
    names = list(models)
    if st.session_state.get("model") not in names:
        linked = st.query_params.get("model")  # a shared link names its model
        st.session_state["model"] = linked if linked in names else "wildlife" if "wildlife" in names else names[0]
    st.sidebar.header("Model")
    name = st.sidebar.selectbox(
        "Model", names, key="model",
        help="A CGN that ships with cgn-art (or the ImageNet CGN, when its weights are set up). 'wildlife' "
             "paints digits with photo textures on photo backgrounds; 'colored' and 'double-colored' use "
             "plain colours.")
    folder = st.sidebar.text_input(
        "Model folder (optional)", key="model_folder", placeholder="e.g. runs/wildlife/model",
        help="A folder holding a model's .safetensors weights and config.json, e.g. one a training run wrote "
             "or a converted ImageNet CGN. When set it replaces the model picked above; leave it empty to "
             "use that one.").strip()
    model, source = None, name
    if folder:
        try:
            model, source = get_model(folder), folder
        except cgn_art.CgnArtError as e:
            st.sidebar.error(f"{e}\n\nUsing the model '{name}' instead.")
    if model is None:
        try:
            model = get_model(name)
        except cgn_art.CgnArtError as e:
            st.error(str(e))
            st.stop()
    st.session_state[SOURCE_KEY] = source
    _describe(model)
    if "imagenet" not in models:
        _imagenet_hint()
    return model, source


@st.cache_data(ttl=30, show_spinner=False)
def _imagenet_message() -> str:
    from cgn_art.mechanisms.weights import imagenet_status

    return imagenet_status()[1].rstrip('.')


def _imagenet_hint() -> None:
    """Why the ImageNet CGN is not in the list, and how to get it there."""
    with st.sidebar.expander("The ImageNet CGN"):
        st.caption(f"Not available: {_imagenet_message()}. Then set the environment variable "
                   "`CGN_ART_IMAGENET` to that folder before `make run`, or type the folder into "
                   "**Model folder** above.")


def _describe(model) -> None:
    # model.name is a shipped name or a model folder's full path: its last part is the readable bit.
    st.sidebar.caption(f"**{Path(model.name).name}** · runs on `{model.device}` · native size {model.native_size} px")
    with st.sidebar.expander("Classes"):
        for mechanism, names in model.class_names.items():
            shown = ", ".join(names[:40]) + (f", … ({len(names)} in all)" if len(names) > 40 else "")
            st.markdown(f"**{mechanism.capitalize()}** ({len(names)}): {shown}")


def current_model():
    """(model, source) picked in the sidebar by the entry script (app/Home.py) on this run."""
    source = st.session_state.get(SOURCE_KEY)
    if source is None:  # a page run on its own (tests): pick here
        return model_picker()
    return get_model(source), source


# Uploads -----------------------------------------------------------------------------------

class _SessionFolder:
    """A temporary folder removed when its browser session ends (or the server stops)."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="cgn-art-session-"))
        # Streamlit drops a session's state when the tab closes; the finalizer then removes the folder.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)


def session_dir() -> Path:
    """This browser session's own temporary folder for uploads and renders; cleaned up with the session."""
    folder = st.session_state.get("_session_folder")
    if folder is None or not folder.path.is_dir():
        folder = st.session_state["_session_folder"] = _SessionFolder()
    return folder.path


# Pages -------------------------------------------------------------------------------------

def set_pages(pages: list) -> None:
    st.session_state["_pages"] = pages


def pages() -> list:
    """The app's pages as registered by app/Home.py (for links between them)."""
    return st.session_state.get("_pages", [])


# Widgets -----------------------------------------------------------------------------------

def class_picker(model, mechanism: str, label: str, key: str, help: str, container=st) -> int:
    """A selectbox of one mechanism's classes, shown by name, returning the class index."""
    names = model.class_names[mechanism]
    value = st.session_state.get(key, 0)
    if not (isinstance(value, int) and 0 <= value < len(names)):
        # Picked on another model: it may have fewer classes, and the browser may send the old name.
        st.session_state[key] = 0
    return container.selectbox(label, range(len(names)), format_func=names.__getitem__, key=key, help=help)



def _roll(key: str) -> None:
    st.session_state[key] = random.randint(0, MAX_SEED)


def seed_input(key: str = "seed", container=st, label: str = "Seed",
               help: str = "The noise every mechanism starts from. The same seed and settings always give "
                           "the same image.") -> int:
    """A seed number input with a dice button beside it that rolls a new seed."""
    st.session_state.setdefault(key, 0)
    left, right = container.columns([3, 2], vertical_alignment="bottom")
    seed = left.number_input(label, min_value=0, max_value=MAX_SEED, step=1, key=key, help=help)
    right.button("Roll", icon=":material/casino:", key=f"{key}_roll", on_click=_roll, args=(key,),
                 help=f"Roll the dice: pick a random {label.lower()}.", width="stretch")
    return int(seed)


def quick_png(image) -> bytes:
    """PNG bytes for showing on the page: light compression, because the page waits on it
    (level 1 encodes 512 px about 5x faster than the default, for files ~40 % larger)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def download_png(cf, index: int = 0, key: str = "download") -> None:
    """A button that downloads one composite as PNG with its settings in the PNG's text metadata.

    The file is made when the button is clicked, not on every rerun of the page.
    """
    settings = cf.settings(index)
    name = "cgn-{}-shape{shape_class}-texture{texture_class}-background{background_class}-seed{shape_seed}.png"
    image = cf.image("composite", index)
    st.download_button(
        "Download PNG", lambda: png_bytes(image, settings),
        file_name=name.format(Path(settings["model"]).name, **settings), mime="image/png", key=key, on_click="ignore",
        help="The composite as a PNG file. The settings that made it are stored inside the file, "
             "so it can be made again exactly.")


def error_box(e: Exception) -> None:
    st.error(str(e), icon=":material/error:")
