"""Caching and widgets every page shares. Pages call the library through these, never a model's layers."""
from __future__ import annotations

import logging
import random
import re
import threading
import time
from pathlib import Path

import streamlit as st
from page_registry import KEY_OWNERS

import cgn_art
from cgn_art.io import png_bytes, quick_png  # noqa: F401 - the pages take quick_png from here
from cgn_art.mechanisms.weights import DEFAULT_MODEL
from cgn_art.runtime.diagnostics import trace_native_crashes
from cgn_art.settings_checks import MAX_SEED

trace_native_crashes()  # a crash in native code kills the server: leave every thread's stack in its log

# Keys --------------------------------------------------------------------------------------

def state_key(prefix: str, *parts, private: bool = False) -> str:
    """The one way to spell a session-state or widget key: ``prefix`` and ``parts`` joined by "_",
    e.g. state_key("type", "roll", 3) is "type_roll_3"; ``private`` adds a leading "_" for what no
    widget shows.

    Streamlit keeps one session state for the whole app, so each page starts its keys with a prefix
    it claims in app/page_registry.py (``keys``); no two pages claim one, so keys of different pages
    never collide, and a prefix nobody claimed is refused here. ``prefix`` may also be a key made
    here, to which a shared widget adds its own part (the seed "mix_shape_seed" -> its dice
    "mix_shape_seed_roll").
    """
    key = "_".join(str(part) for part in (prefix, *parts))
    if key.split("_", 1)[0] not in KEY_OWNERS:
        raise ValueError(f"the key {key!r} starts with no prefix a page claims in app/page_registry.py")
    return "_" + key if private else key


MODEL_KEY = state_key("model")
FOLDER_KEY = state_key("model", "folder")
SOURCE_KEY = state_key("model", "source", private=True)
PAGES_KEY = state_key("pages", private=True)


# Models ------------------------------------------------------------------------------------

def available_models() -> dict[str, Path]:
    """Every model that can be loaded by name: the shipped ones, and the ImageNet CGN when configured."""
    return dict(cgn_art.available_models())


def weights_version(name_or_folder: str) -> int:
    """The newest mtime of the weights and config files, so retrained weights (or a mended config)
    are picked up without restarting the server."""
    folder = available_models().get(name_or_folder) or Path(name_or_folder)
    try:
        return max(p.stat().st_mtime_ns for p in [*Path(folder).glob("*.safetensors"), Path(folder) / "config.json"]
                   if p.is_file())
    except (OSError, ValueError):
        return 0  # load_model raises the readable error


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _load_model(name_or_folder: str, version: int):
    return cgn_art.load_model(name_or_folder, device="auto")


# Why a folder did not load, by (folder, version): a folder that failed is not read again on every
# rerun while its files stay as they are (each try cost seconds of CPU and grew the server).
_FAILED: dict = {}
_FAILED_KEPT = 64


def get_model(name_or_folder: str):
    """The model, loaded once per process (and again only when its weights or config change)."""
    key = (name_or_folder, weights_version(name_or_folder))
    if key in _FAILED:
        raise cgn_art.CgnArtError(_FAILED[key])
    try:
        return _load_model(*key)
    except cgn_art.CgnArtError as e:
        if len(_FAILED) >= _FAILED_KEPT:
            _FAILED.pop(next(iter(_FAILED)))
        _FAILED[key] = str(e)
        raise


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
    if st.session_state.get(MODEL_KEY) not in names:
        linked = st.query_params.get("model")  # a shared link names its model
        st.session_state[MODEL_KEY] = (linked if linked in names else DEFAULT_MODEL if DEFAULT_MODEL in names
                                       else names[0])
    st.sidebar.header("Model")
    name = st.sidebar.selectbox(
        "Model", names, key=MODEL_KEY,
        help="A CGN that ships with cgn-art (or the ImageNet CGN, when its weights are set up). 'letters' "
             "(the default) sets capital letters in photo textures on photo backgrounds; 'wildlife' does the "
             "same with digits at 32 px; 'colored' and 'double-colored' use plain colours.")
    folder = st.sidebar.text_input(
        "Model folder (optional)", key=FOLDER_KEY, placeholder="e.g. runs/wildlife/model",
        help="A folder holding a model's .safetensors weights and config.json, e.g. one a training run wrote "
             "or a converted ImageNet CGN. When set it replaces the model picked above; leave it empty to "
             "use that one.").strip()
    model, source = None, name
    if folder:
        try:
            model, source = get_model(folder), folder
        except cgn_art.CgnArtError as e:
            st.sidebar.error(f"{plain(str(e))}\n\nUsing the model '{name}' instead.")
    if model is None:
        try:
            model = get_model(name)
        except cgn_art.CgnArtError as e:
            st.error(plain(str(e)))
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


# Session folders ----------------------------------------------------------------------------

SWEEP_SECONDS = 5.0   # how often the server looks for ended sessions (their files and jobs go)


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


@st.cache_resource(show_spinner=False)
def _workspace():
    """The server's one set of session folders, and its janitor: at start-up it removes folders left
    by servers that are gone; then, every few seconds, the folders and heavy jobs of sessions whose
    browser tab has closed."""
    from cgn_art.runtime.workspace import SessionFolders

    folders = SessionFolders()
    folders.sweep_stale()
    threading.Thread(target=_janitor, args=(folders,), name="cgn-art janitor", daemon=True).start()
    return folders


def _janitor(folders) -> None:
    from streamlit.runtime import Runtime

    while True:
        time.sleep(SWEEP_SECONDS)
        if not Runtime.exists():  # AppTest: no server; the folders go when the process ends
            continue
        try:
            end_sessions(folders, Runtime.instance().is_active_session)
        except Exception:  # the janitor must outlive any one bad sweep
            logging.getLogger(__name__).exception("session sweep failed")


def end_sessions(folders, is_active) -> list[str]:
    """Cancel the heavy jobs and remove the folders of sessions ``is_active`` says have ended."""
    queue = job_queue()
    owners = [job.owner for job in queue.jobs() if job.owner]
    ended = folders.sweep(is_active, also=owners)
    for session_id in ended:
        queue.cancel_owner(session_id)
    return ended


def session_dir() -> Path:
    """This browser session's own temporary folder for uploads and renders; removed when the session
    ends (the tab closes) and swept when the server starts after a crash."""
    return _workspace().folder(_session_id())


# Heavy jobs ----------------------------------------------------------------------------------

POLL_SECONDS = 0.5


def job_queue():
    """The server's one queue of heavy jobs: renders, stylizations and lab runs wait here for a slot
    (CGN_ART_HEAVY_JOBS at once, default half the cores), so the Mixer never waits behind them."""
    from cgn_art.runtime.jobs import default_queue

    return default_queue()


def _job_key(key: str) -> str:
    return state_key("job", key, private=True)


def _notice_key(key: str) -> str:
    return state_key("job", "notice", key, private=True)


def start_job(key: str, label: str, work, *args) -> None:
    """Queue ``work(job, *args)`` as this session's job ``key`` (replacing, and cancelling, an earlier one).

    ``work`` is a module-level function (cgn_art.runtime.heavy_jobs): on the server it runs in a worker
    process at low priority, so it must not call Streamlit and its arguments must pickle. It reports
    with ``job.progress(fraction, message)`` and stops when ``job.cancelled()``. Show it with
    job_panel. Does not return: the page reruns at once.
    """
    old = st.session_state.get(_job_key(key))
    if old is not None:
        old.cancel()
    st.session_state.pop(_notice_key(key), None)
    _workspace()  # the janitor must run to cancel jobs of closed tabs
    st.session_state[_job_key(key)] = job_queue().submit(work, label=label, owner=_session_id(), args=args)
    st.rerun()  # the page redraws with the job's panel, its start buttons disabled


def job_running(key: str) -> bool:
    job = st.session_state.get(_job_key(key))
    return job is not None and not job.finished


def job_panel(key: str, on_done, cancelled_text: str = "Cancelled: nothing was written.") -> None:
    """Where job ``key`` shows: its place in line or its progress, with a Cancel button, while it
    lasts; ``on_done(result)`` is called once when it finishes; a failure or a cancel leaves a
    message until the next job starts."""
    job = st.session_state.get(_job_key(key))
    if job is not None and job.finished:
        st.session_state.pop(_job_key(key), None)
        if job.status == "done":
            on_done(job.result)
        elif job.status == "cancelled":
            st.session_state[_notice_key(key)] = ("cancelled", cancelled_text)
        else:
            st.session_state[_notice_key(key)] = ("error", job.error or "the job failed")
        job = None
    if job is not None:
        _live_job(key)
        return
    notice = st.session_state.get(_notice_key(key))
    if notice is not None:
        kind, text = notice
        if kind == "cancelled":
            st.warning(text, icon=":material/cancel:")
        else:
            st.error(text, icon=":material/error:")


@st.fragment(run_every=POLL_SECONDS)
def _live_job(key: str) -> None:
    """Redrawn every half second (only this part of the page) while the job lasts."""
    job = st.session_state.get(_job_key(key))
    if job is None or job.finished:
        st.rerun(scope="app")  # the whole page shows the result (and this stops polling)
    if job.status == "waiting":
        queue = job_queue()
        st.info(f"**Waiting in line: you are number {job.place}** of {queue.waiting} waiting. "
                f"{queue.running} heavy job(s) are running now (at most {queue.slots} at once, so the "
                "server stays quick for everyone). It starts by itself; Cancel leaves the line.",
                icon=":material/hourglass_top:")
    else:
        st.progress(job.fraction, job.message)
        if job.preview is not None:
            image, caption = job.preview
            st.image(quick_png(image), caption=f"In progress: {caption}")
    st.button("Cancel", key=state_key(key, "cancel"), icon=":material/cancel:", on_click=job.cancel,
              disabled=job.cancelled(),
              help="Stop this job now (or leave the line): partial files are removed.")


# Pages -------------------------------------------------------------------------------------

def set_pages(pages: list) -> None:
    """``pages``: (PageInfo from app/page_registry.py, its st.Page) pairs, in the navigation's order."""
    st.session_state[PAGES_KEY] = pages
    _workspace()  # on the server's first run: sweep folders of dead servers, start the janitor


def pages() -> list:
    """The app's pages as app/Home.py set them up (for links between them): (PageInfo, st.Page) pairs."""
    return st.session_state.get(PAGES_KEY, [])


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


def seed_input(key: str, container=st, label: str = "Seed",
               help: str = "The noise every mechanism starts from. The same seed and settings always give "
                           "the same image.") -> int:
    """A seed number input with a dice button beside it that rolls a new seed."""
    st.session_state.setdefault(key, 0)
    left, right = container.columns([3, 2], vertical_alignment="bottom")
    seed = left.number_input(label, min_value=0, max_value=MAX_SEED, step=1, key=key, help=help)
    right.button("Roll", icon=":material/casino:", key=state_key(key, "roll"), on_click=_roll, args=(key,),
                 help=f"Roll the dice: pick a random {label.lower()}.", width="stretch")
    return int(seed)


def download_png(cf, key: str, index: int = 0) -> None:
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


# What turns text into something else in Streamlit's markdown: links and images ([...](...)),
# HTML and autolinks (<...>), LaTeX ($), code, emphasis, strike-through, tables, colour directives
# (:red[...]) and bare URLs (the colon of "://"). Other punctuation stays as it is, so a message
# reads the same in the page's source.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>$~|])|(?<=\w):(?=//)")


def plain(text: str) -> str:
    """``text`` as literal characters in Streamlit markdown (see ``_MARKDOWN``), so a value from a
    link, a file name or a message cannot become an image the browser fetches, a link, or formatting."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), str(text))


def error_box(e: Exception) -> None:
    st.error(plain(str(e)), icon=":material/error:")
