"""Latent Dance: a song in, a music video out; the shape, texture and background each follow the music."""
import dataclasses
import io
import os
from pathlib import Path

import streamlit as st
from common import (
    MAX_SEED,
    current_model,
    error_box,
    job_panel,
    job_running,
    session_dir,
    start_job,
    state_key,
)
from lyrics_upload import lyrics_upload

import cgn_art
from cgn_art.audio import (
    AUDIO_SUFFIXES,
    MIN_DURATION,
    analyse_file,
    audio_duration,
    warm_up_in_background,
)
from cgn_art.audio.demo_song import SHIPPED as DEMO_SONG
from cgn_art.dance import CLASS_DRIVERS, DRIFT_DRIVERS, MECHANISMS, PRESETS, PULSE_DRIVERS, DanceSettings
from cgn_art.runtime.heavy_jobs import preview_settings, render_video

MAX_UPLOAD_MB = float(os.environ.get("CGN_ART_MAX_UPLOAD_MB", "50"))  # the server's own cap is 200 MB
PREVIEW_SECONDS = 5
RESULT_KEY = state_key("dance", "result")
JOB_KEY = state_key("dance", "job")
EXPLAIN = {"shape": "the mask (which digit, its outline)", "texture": "the foreground painted inside the mask",
           "background": "what is behind it"}


@st.cache_resource
def _warm_up_started():
    # librosa compiles its numba code on first use: start that while the user picks a song.
    return warm_up_in_background()


def song_file(source: str) -> Path | None:
    """The chosen song on disk: the demo, or the upload saved in this session's folder."""
    if source == "Demo song":
        return DEMO_SONG
    upload = st.file_uploader("Song", type=[s.lstrip(".") for s in AUDIO_SUFFIXES], key=state_key("dance", "upload"),
                              help=f"wav, mp3, ogg, flac or m4a, up to {MAX_UPLOAD_MB:g} MB.")
    if upload is None:
        st.info("Upload a song to dance to, or pick the demo song above.")
        return None
    if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
        raise cgn_art.CgnArtError(f"{upload.name} is {upload.size / 2**20:.1f} MB, over the {MAX_UPLOAD_MB:g} MB "
                                  "limit: upload a shorter or more compressed file (e.g. mp3 or ogg)")
    # One folder per upload keeps the user's file name (messages and the sidecar name it).
    folder = session_dir() / f"upload-{upload.file_id}"
    folder.mkdir(exist_ok=True)
    path = folder / (Path(upload.name).name or "song")
    if not path.exists():
        path.write_bytes(upload.getvalue())
    return path


def stretch_picker(path: Path, limit: float) -> tuple[float, float]:
    total = audio_duration(path)
    if total < MIN_DURATION:  # before the slider: it cannot span a stretch of (almost) nothing
        raise cgn_art.CgnArtError(f"{path.name} gives only {total:.2f} s of audio: use at least {MIN_DURATION:g} s")
    if total > limit:
        st.warning(f"This song is {total / 60:.1f} minutes long, over the {limit / 60:.0f}-minute limit: "
                   f"pick a stretch of at most {limit / 60:.0f} minutes below.")
    start, end = st.slider("Stretch (seconds)", 0.0, float(round(total, 1)), (0.0, float(round(min(total, limit), 1))),
                           step=0.5, key=state_key("dance", "stretch", path.name),
                           help="The part of the song to dance to.")
    if end - start > limit:
        raise cgn_art.CgnArtError(f"the stretch is {end - start:.0f} s, over the {limit:.0f} s limit: make it shorter")
    return start, end - start


def mapping_controls(model, preset: DanceSettings) -> dict:
    """Advanced controls, one column per mechanism, starting from the preset's values."""
    changes = {}
    for column, mechanism in zip(st.columns(3), MECHANISMS):
        mapping = getattr(preset, mechanism)
        key = state_key("dance", preset.preset, mechanism)  # new preset, fresh widgets
        names = model.class_names[mechanism]
        column.markdown(f"**{mechanism.capitalize()}**: {EXPLAIN[mechanism]}")
        chosen = column.multiselect("Classes", range(len(names)), default=mapping.classes or [],
                                    format_func=names.__getitem__, key=state_key(key, "classes"),
                                    help="The classes it may use; none picked means the model's suggested classes "
                                         "(all of them for the small models, the paper's picks for ImageNet).")
        changes[f"{mechanism}.classes"] = list(chosen) or None
        changes[f"{mechanism}.classes_by"] = column.selectbox(
            "Class changes on", CLASS_DRIVERS, CLASS_DRIVERS.index(mapping.classes_by),
            key=state_key(key, "classes_by"),
            help="chroma: the 12 pitch classes pick (and blend) classes; an event moves to the next class.")
        changes[f"{mechanism}.pulse"] = column.selectbox(
            "Pulse on", PULSE_DRIVERS, PULSE_DRIVERS.index(mapping.pulse), key=state_key(key, "pulse"),
            help="What kicks the noise in a new direction for a moment.")
        changes[f"{mechanism}.sensitivity"] = column.slider(
            "Pulse sensitivity", 0.0, 1.0, float(mapping.sensitivity), 0.05, key=state_key(key, "sensitivity"),
            help="How hard a pulse kicks the noise: 0 ignores the music, 1 makes every hit jump.")
        changes[f"{mechanism}.drift"] = column.selectbox(
            "Drift with", DRIFT_DRIVERS, DRIFT_DRIVERS.index(mapping.drift), key=state_key(key, "drift"),
            help="What moves the slow noise walk: a level sets its pace, an event takes a step.")
        changes[f"{mechanism}.speed"] = column.slider(
            "Drift speed", 0.0, 2.0, float(min(mapping.speed, 2.0)), 0.05, key=state_key(key, "speed"),
            help="How fast the slow noise walk moves: 0 holds still, 2 wanders quickly.")
        changes[f"{mechanism}.smoothing"] = column.slider(
            "Smoothing (s)", 0.0, 2.0, float(min(mapping.smoothing, 2.0)), 0.05, key=state_key(key, "smoothing"),
            help="How long pulses take to fade and class changes to cross-fade.")
        changes[f"{mechanism}.jitter"] = column.slider(
            "Jitter", 0.0, 1.0, float(mapping.jitter), 0.05, key=state_key(key, "jitter"),
            help="A small seeded wobble added to the noise walk, for a restless look.")
    # Only a real change makes the settings 'custom'.
    preset_values = {f"{m}.{f.name}": getattr(getattr(preset, m), f.name)
                     for m in MECHANISMS for f in dataclasses.fields(getattr(preset, m))}
    return {k: v for k, v in changes.items() if v != preset_values[k]}


def plot_features(features):
    # A bare Figure, not pyplot: no global figure registry shared by every session's thread.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    times = features.times
    for name, colour in (("onsets", "#888"), ("percussive", "#d62728"), ("harmonic", "#1f77b4"), ("rms", "#2ca02c")):
        top.plot(times, features.envelope(name), lw=0.8, color=colour, label=name, alpha=0.85)
    for i, t in enumerate(features.beats):
        top.axvline(t, color="#bbb", lw=0.5, label="beats" if i == 0 else None)
    for i, t in enumerate(features.downbeats):
        top.axvline(t, color="#555", lw=1.0, ls="--", label="downbeats" if i == 0 else None)
    for ax in (top, bottom):
        for i, t in enumerate(features.sections):
            ax.axvline(t, color="#ff7f0e", lw=2.5, label="sections" if (i == 0 and ax is top) else None)
    top.legend(loc="upper right", ncol=7, fontsize=7)
    top.set_ylabel("level")
    bottom.imshow(features.chroma, aspect="auto", origin="lower", cmap="magma",
                  extent=[0, features.duration, -0.5, 11.5])
    bottom.set_yticks(range(0, 12, 2), ["C", "D", "E", "F#", "G#", "A#"])
    bottom.set_ylabel("chroma")
    bottom.set_xlabel("seconds")
    fig.tight_layout()
    return fig


@st.cache_data(max_entries=16, show_spinner=False)
def feature_plot_png(key: str, _features) -> bytes:
    """The feature plot as PNG, drawn once per analysis (``key``) and shared by every session.

    Drawn on every rerun it was most of this page's cost (matplotlib, then Streamlit shrinking and
    re-encoding a 2200 px PNG): every widget change, and the rerun that shows a render's place in
    line and progress, waited seconds of CPU for it; on a busy server, minutes."""
    buffer = io.BytesIO()
    plot_features(_features).savefig(buffer, format="png", dpi=120)  # 1320 px: Streamlit keeps it as is
    return buffer.getvalue()


def start_render(model, path: Path, settings: DanceSettings, features, preview: bool, lyrics=None,
                 digit_model=None) -> None:
    """Queue the render (or the preview) as this session's heavy job; job_panel follows it.
    With ``lyrics`` (``model`` then a letters model) it is a lyric video."""
    name = f"dance-{Path(features.name).stem}-{settings.preset.replace(' ', '-')}-{settings.seed}"
    out = session_dir() / (name + ("-preview" if preview else "") + ".mp4")
    used = preview_settings(settings) if preview else settings
    start_job(JOB_KEY, "the preview" if preview else "the render", render_video, model, path, out, used, features,
              PREVIEW_SECONDS if preview else None, lyrics, digit_model)


def keep_result(result: dict) -> None:
    st.session_state[RESULT_KEY] = result


def show_result(result: dict) -> None:
    st.video(result["video"])
    left, right = st.columns(2)
    left.download_button("Download the video (mp4)", result["video"], file_name=result["name"] + ".mp4",
                         mime="video/mp4", icon=":material/download:", key=state_key("dance", "download_mp4"),
                         on_click="ignore",
                         help="The video: H.264 with AAC sound, plays in browsers and phones.")
    right.download_button("Download the settings (JSON sidecar)", result["sidecar"], file_name=result["name"] + ".json",
                          mime="application/json", icon=":material/download:", key=state_key("dance", "download_json"),
                          on_click="ignore",
                          help="Re-render this video exactly (or larger): cgn-art dance SONG --settings THIS.json")
    st.caption(result["caption"])


def header() -> None:
    st.title("Latent Dance")
    st.write("A song in, a music video out. A CGN draws with three independent mechanisms, so each can follow "
             "its own part of the music: by default the **drums pulse the shape**, the **harmony paints the "
             "texture** (12 pitch classes pick the texture classes) and the song's **sections and loudness move "
             "the background**.")


def song_choice() -> str:
    return st.radio("Song", ["Demo song", "Upload a song"], horizontal=True, key=state_key("dance", "source"),
                    help="The demo song is a 20 s piece synthesized by cgn-art (drums, bass, chords).")


def video_controls() -> tuple[str, dict]:
    """The preset's name, and the video's size, frame rate and seed."""
    a, b, c, d = st.columns(4)
    preset_name = a.selectbox("Preset", list(PRESETS), key=state_key("dance", "preset"),
                              help="groove: the default mapping; calm: slow and gentle; punchy: every beat "
                                   "hits; texture storm: textures flicker with every onset.")
    size = b.select_slider("Video size (px)", [256, 384, 512, 720, 1080], value=512, key=state_key("dance", "size"),
                           help="Pixels per side of the video. Larger takes longer to encode and download.")
    fps = c.select_slider("Frames per second", [12, 24, 30], value=24, key=state_key("dance", "fps"),
                          help="Frames per second of the video: more is smoother and takes longer.")
    seed = d.number_input("Seed", 0, MAX_SEED, 0, key=state_key("dance", "seed"),
                          help="Seeds every noise walk: the same seed and settings give the same video.")
    return preset_name, dict(size=size, fps=fps, seed=int(seed))


def tune_mapping(model, preset_name: str) -> dict:
    """The advanced controls, folded away: the changes made to the preset's mapping."""
    preset = DanceSettings.from_preset(preset_name)
    with st.expander("Tune the mapping (advanced)"):
        return mapping_controls(model, preset)


def analysis(path: Path, settings: DanceSettings):
    """The song's features for the chosen stretch, summed up and plotted."""
    bar = st.progress(0.0, "Analysing the song…")
    features = analyse_file(path, settings.start, settings.duration, max_duration=settings.max_duration,
                            progress=lambda f, m: bar.progress(f, m))
    bar.empty()
    s = features.summary()
    st.caption(f"{s['duration']:.1f} s · {s['tempo']:.1f} BPM · {s['beats']} beats · {s['onsets']} onsets · "
               f"{s['sections']} section(s). Grey lines: beats; dashed: downbeats; orange: section changes.")
    plot_key = f"{features.file_hash}:{features.start:.3f}:{features.duration:.3f}:{features.n_frames}"
    st.image(feature_plot_png(plot_key, features), width="stretch")
    return features


def render_buttons(model, path: Path, settings: DanceSettings, features, lyrics, letters, digits) -> None:
    """Preview and Render; either queues the job (a lyric video when lyrics were uploaded)."""
    preview_col, render_col = st.columns(2)
    busy = job_running(JOB_KEY)
    preview = preview_col.button(f"Preview ({PREVIEW_SECONDS} s, small)", icon=":material/play_circle:",
                                 key=state_key("dance", "preview"), width="stretch", disabled=busy,
                                 help=f"Render the first {PREVIEW_SECONDS} s of the stretch at up to 256 px, "
                                      "to check the mapping quickly.")
    render = render_col.button("Render the video", icon=":material/movie:", type="primary",
                               key=state_key("dance", "render"), width="stretch", disabled=busy,
                               help="Render the whole stretch at the chosen size and frame rate, with the song "
                                    "as its soundtrack. The Cancel button below it stops it.")
    if preview or render:
        if lyrics is None:
            start_render(model, path, settings, features, preview)
        else:
            start_render(letters, path, settings, features, preview, lyrics, digits)


def result() -> None:
    """The job while it runs, then the video and its downloads."""
    job_panel(JOB_KEY, keep_result, cancelled_text="Render cancelled: no video was written.")
    if RESULT_KEY in st.session_state:
        show_result(st.session_state[RESULT_KEY])


def main() -> None:
    header()
    _warm_up_started()
    model, _ = current_model()
    try:
        path = song_file(song_choice())
        if path is None:
            return
        preset_name, video = video_controls()
        start, duration = stretch_picker(path, DanceSettings().max_duration)
        changes = tune_mapping(model, preset_name)
        lyrics, letters, digits = lyrics_upload(model, path)
        if lyrics is not None:
            video["material_scale"] = st.slider(
                "Material scale", 0.0, 1.0, 0.0, 0.05, key=state_key("dance", "material_scale"),
                help="For the lyric video's letters and background: 0 crisp, one pixel of the material per video "
                     "pixel; 1 as large as at the model's native size (soft at 1080 px).")
        settings = DanceSettings.from_preset(preset_name, **video, start=start, duration=duration).with_changes(changes)
        features = analysis(path, settings)
        render_buttons(model, path, settings, features, lyrics, letters, digits)
        result()
    except cgn_art.CgnArtError as e:
        error_box(e)


main()
