"""Reliability (issue 15), app side (AppTest): in-page Cancel for every long job, the queue's place in
line, a song of (almost) nothing, GIF uploads, session folders that go with their session."""
from __future__ import annotations

import io
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tomllib
from PIL import Image

import cgn_art.dance
import cgn_art.robustness.experiment
import cgn_art.stylize
from cgn_art.audio import cache
from cgn_art.runtime import jobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def own_queue_and_cache(tmp_path, monkeypatch):
    """A fresh one-slot queue per test (the pages use jobs.default_queue()), and an own analysis cache."""
    monkeypatch.setattr(jobs, "_default", jobs.JobQueue(slots=1, nice=0))
    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path / "cache"))
    cache._MEMORY.clear()
    yield
    for job in jobs.default_queue().jobs():
        job.cancel()


def page(view: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app/Home.py", default_timeout=180).run()
    at.switch_page(view).run()
    assert not at.exception, at.exception
    return at


def our_session_files(pattern: str) -> list[Path]:
    """Files matching ``pattern`` in this process's session folders."""
    root = Path(tempfile.gettempdir())
    return [f for folder in root.glob(f"cgn-art-session-{os.getpid()}-*") for f in folder.glob(pattern)]


def held(real, midway: threading.Event, gate: threading.Event, when: str):
    """``real`` with its progress held (once) at the first message starting with ``when``: the work
    is really half done (files open, ffmpeg running) while the test presses Cancel."""
    def run(*args, progress, **kwargs):
        def report(fraction, message):
            progress(fraction, message)  # the job's progress: raises once the job is cancelled
            if message.startswith(when) and not midway.is_set():
                midway.set()
                gate.wait(120)
        return real(*args, progress=progress and report, **kwargs)
    return run


def only_job():
    queued = jobs.default_queue().jobs()
    assert len(queued) == 1
    return queued[0]


def cancel_the_job(at, prefix: str, gate: threading.Event) -> None:
    """Press the page's Cancel (``<prefix>_job_cancel``) on its one job, held midway, then let the job
    go on: it must end cancelled, and the page must run again without an error."""
    job = only_job()
    at.button(key=f"{prefix}_job_cancel").click().run()
    gate.set()
    assert job.wait(120) and job.status == "cancelled"
    at.run()
    assert not at.exception and not at.error


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


# Cancel ----------------------------------------------------------------------------------------

def test_dance_cancel_stops_the_render_removes_the_partial_and_says_cancelled(monkeypatch):
    midway, gate = threading.Event(), threading.Event()
    monkeypatch.setattr(cgn_art.dance, "render_dance", held(cgn_art.dance.render_dance, midway, gate,
                                                            "Rendered frame"))
    at = page("views/dance.py")
    at.button(key="dance_render").click().run()
    assert midway.wait(180) and our_session_files(".*.partial.mp4")  # really mid-render
    assert at.button(key="dance_render").disabled  # one render at a time per page
    at.button(key="dance_job_cancel").click().run()
    job = only_job()
    assert job.cancelled()
    gate.set()
    assert job.wait(120) and job.status == "cancelled"
    at.run()
    assert not at.exception and not at.error
    assert "Render cancelled: no video was written." in warnings(at)
    assert not at.get("video") and not at.button(key="dance_render").disabled
    assert not our_session_files(".*.partial.mp4") and not our_session_files("dance-*.mp4")


def test_a_render_waits_in_line_shows_its_place_and_can_leave():
    gate = threading.Event()
    busy = jobs.default_queue().submit(lambda job: gate.wait(120), "someone else's render")
    try:
        at = page("views/dance.py")
        at.button(key="dance_preview").click().run()
        assert any("you are number 1" in i.value and "at most 1 at once" in i.value for i in at.info)
        mine = [j for j in jobs.default_queue().jobs() if j is not busy][0]
        assert mine.status == "waiting" and mine.place == 1
        at.button(key="dance_job_cancel").click().run()
        assert mine.status == "cancelled" and jobs.default_queue().waiting == 0
        at.run()
        assert "Render cancelled: no video was written." in warnings(at)
    finally:
        gate.set()
    assert busy.wait(60) and busy.status == "done"


def test_stylize_cancel_keeps_the_page_and_says_cancelled(monkeypatch, model_dir):
    midway, gate = threading.Event(), threading.Event()
    monkeypatch.setattr(cgn_art.stylize, "stylize", held(cgn_art.stylize.stylize, midway, gate, "level"))
    at = page("views/stylizer.py")
    at.text_input(key="model_folder").input(str(model_dir)).run()
    at.select_slider(key="sty_size").set_value(256).run()
    at.button(key="sty_run").click().run()
    assert midway.wait(180)
    cancel_the_job(at, "sty", gate)
    assert "Stylization cancelled: the last result is kept." in warnings(at) and "sty_result" not in at.session_state


def test_lab_cancel_says_cancelled(monkeypatch):
    midway, gate = threading.Event(), threading.Event()
    monkeypatch.setattr(cgn_art.robustness.experiment, "run_experiment",
                        held(cgn_art.robustness.experiment.run_experiment, midway, gate, "colored"))
    at = page("views/robustness.py")
    at.select_slider(key="lab_count").set_value(1_000)
    at.slider(key="lab_epochs").set_value(1)
    at.button(key="lab_run").click().run()
    assert midway.wait(180)
    cancel_the_job(at, "lab", gate)
    assert any(w.startswith("Experiment cancelled") for w in warnings(at))


def test_no_page_or_setting_relies_on_streamlits_hidden_stop():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] != "minimal"  # 'minimal' hides the Running/Stop widget
    for view in (ROOT / "app" / "views").glob("*.py"):
        assert "Stop button" not in view.read_text(), view.name


def test_streamlit_reads_our_setting_that_skips_its_full_collection_after_every_run(monkeypatch):
    """Streamlit's own default (a full gc.collect after each script run, ~170 ms holding the GIL with
    torch loaded) stalled every session while job panels polled; the option must be spelled as this
    Streamlit knows it, or the setting is silently ignored."""
    from streamlit import config as st_config

    monkeypatch.chdir(ROOT)
    try:
        st_config.get_config_options(force_reparse=True)
        assert st_config.get_option("runner.postScriptGC") is False
        assert st_config.get_option("runner.magicEnabled") is False  # the same file was read
    finally:
        monkeypatch.undo()
        st_config.get_config_options(force_reparse=True)


# Bad files -------------------------------------------------------------------------------------

def test_a_song_that_decodes_to_almost_nothing_is_one_message_not_a_crash():
    song = io.BytesIO()
    sf.write(song, (np.sin(np.arange(3 * 22050) / 5) * 0.5).astype(np.float32), 22050, format="WAV",
             subtype="PCM_16")
    short = song.getvalue()[:44 + 500]  # the header, then 250 samples: 0.011 s
    at = page("views/dance.py")
    at.radio(key="dance_source").set_value("Upload a song").run()
    at.file_uploader(key="dance_upload").upload("short.wav", short, "audio/wav").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["short.wav gives only 0.01 s of audio: use at least 1 s"]


def test_a_song_dropped_on_the_lyrics_box_says_where_it_goes():
    at = page("views/dance.py")  # the demo song: the lyrics box is the page's one drop zone
    uploader = at.file_uploader(key="dance_lyrics")
    assert not list(uploader.proto.type)  # a browser-side filter would refuse it with only a red icon
    uploader.upload("beat.ogg", b"OggS" + bytes(200), "audio/ogg").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        'beat.ogg is a song, not lyrics: remove it here, pick "Upload a song" above and drop it on the Song box; '
        "lyrics are an .lrc or a plain .txt file"]


def gif_bytes() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def test_the_stylizer_takes_an_animated_gif_and_says_which_types_it_takes():
    at = page("views/stylizer.py")
    at.radio(key="sty_photo_from").set_value("My photo").run()
    uploader = at.file_uploader(key="sty_photo_upload")
    assert ".gif" in list(uploader.proto.type)  # the browser refuses any type not listed here
    assert "GIF" in uploader.proto.label and "JPEG" in uploader.proto.label
    uploader.upload("dancing.gif", gif_bytes(), "image/gif").run()
    assert not at.exception and not at.error
    assert any(i.proto.imgs[0].caption == "Photo: dancing.gif (64 x 48)" for i in at.image)


# Session folders -------------------------------------------------------------------------------

def test_an_ended_session_loses_its_folder_and_its_jobs(monkeypatch):
    midway, gate = threading.Event(), threading.Event()
    monkeypatch.setattr(cgn_art.dance, "render_dance", held(cgn_art.dance.render_dance, midway, gate,
                                                            "Rendered frame"))
    at = page("views/dance.py")
    at.radio(key="dance_source").set_value("Upload a song").run()
    song = io.BytesIO()
    sf.write(song, (np.sin(np.arange(3 * 22050) / 5) * 0.5).astype(np.float32), 22050, format="WAV")
    at.file_uploader(key="dance_upload").upload("mine.wav", song.getvalue(), "audio/wav").run()
    at.button(key="dance_render").click().run()
    assert midway.wait(180)
    uploads = our_session_files("upload-*/mine.wav")
    assert len(uploads) == 1
    common = sys.modules["common"]
    job = only_job()
    folders = common._workspace()
    try:
        assert common.end_sessions(folders, lambda session: False) == []  # one sweep of grace
        assert common.end_sessions(folders, lambda session: False) == [job.owner]
    finally:
        gate.set()
    assert job.wait(120) and job.status == "cancelled"
    common.end_sessions(folders, lambda session: False)  # the janitor's next sweep, after the job stopped
    assert not uploads[0].exists() and not uploads[0].parent.parent.exists()
