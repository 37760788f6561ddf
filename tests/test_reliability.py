"""Reliability (issue 15), library and CLI side: the heavy-job queue, cancelling, partial files,
output paths, file modes, non-finite audio, session folders, and killing a real render."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import running, wait_until

from cgn_art.audio import cache, load_audio
from cgn_art.cli import main
from cgn_art.errors import CgnArtError
from cgn_art.runtime.jobs import JobQueue, current_job, default_slots
from cgn_art.runtime.workspace import ENDED_RESWEEPS, SessionFolders
from cgn_art.video import VideoWriter, check_output, sweep_partials

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CGN_ART_CACHE", str(tmp_path / "cache"))
    cache._MEMORY.clear()


def frames(n=4, size=32):
    return np.random.default_rng(0).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


# The heavy-job queue ---------------------------------------------------------------------------

def blocker(gate: threading.Event):
    def work(job):
        gate.wait()
        return "released"
    return work


def test_jobs_wait_in_line_first_come_first_served_and_can_leave():
    queue = JobQueue(slots=1, nice=0)
    gate = threading.Event()
    first = queue.submit(blocker(gate), "first")
    second = queue.submit(lambda job: "second ran", "second")
    third = queue.submit(lambda job: "third ran", "third")
    assert (first.status, first.place) == ("running", 0)
    assert (second.place, third.place) == (1, 2) and queue.waiting == 2 and queue.running == 1
    second.cancel()  # leaves the line: the one behind moves up, and it never runs
    assert second.status == "cancelled" and second.wait(0) and third.place == 1
    gate.set()
    assert third.wait(30) and first.result == "released" and third.result == "third ran"
    assert second.result is None and queue.waiting == queue.running == 0


def test_cancelling_a_running_job_runs_its_hooks_and_progress_raises():
    queue = JobQueue(slots=2, nice=0)
    hooked, started = threading.Event(), threading.Event()

    def work(job):
        assert current_job() is job
        job.on_cancel(hooked.set)
        started.set()
        hooked.wait(30)  # e.g. a video writer waiting on ffmpeg, woken by its hook
        job.progress(0.5, "half way")  # raises: the job was cancelled
        return "finished anyway"

    job = queue.submit(work, "render")
    assert started.wait(30)
    job.cancel()
    assert hooked.is_set() and job.wait(30)
    assert job.status == "cancelled" and job.result is None and job.message == "Cancelled"


def test_a_failure_is_one_readable_line_and_frees_the_slot():
    queue = JobQueue(slots=1, nice=0)

    def bad(job):
        raise CgnArtError("the song is too short")

    def crash(job):
        raise ZeroDivisionError("division by zero")

    failed, crashed = queue.submit(bad, "render"), queue.submit(crash, "stylization")
    after = queue.submit(lambda job: 42, "after")
    assert after.wait(30) and after.result == 42
    assert failed.status == crashed.status == "failed"
    assert failed.error == "the song is too short"
    assert crashed.error.startswith("stylization failed unexpectedly (ZeroDivisionError")


def test_work_that_returns_early_when_cancelled_is_not_a_result():
    queue = JobQueue(slots=1, nice=0)
    started = threading.Event()

    def polite(job):  # like stylize(): stops at its next check and returns what it has
        started.set()
        while not job.cancelled():
            time.sleep(0.01)
        return "half a picture"

    job = queue.submit(polite, "stylization")
    started.wait(30)
    job.cancel()
    assert job.wait(30) and job.status == "cancelled" and job.result is None


def test_slots_from_the_core_count_or_the_environment(monkeypatch):
    monkeypatch.delenv("CGN_ART_HEAVY_JOBS", raising=False)
    assert default_slots() == max(1, len(os.sched_getaffinity(0)) // 2)
    monkeypatch.setenv("CGN_ART_HEAVY_JOBS", "3")
    assert default_slots() == 3 and JobQueue().slots == 3
    monkeypatch.setenv("CGN_ART_HEAVY_JOBS", "none")
    with pytest.raises(CgnArtError, match="CGN_ART_HEAVY_JOBS"):
        default_slots()


def test_a_jobs_encoder_runs_at_a_lower_priority_than_the_server(tmp_path):
    queue = JobQueue(slots=1, nice=0, encoder_nice=5)

    def render(job):
        with VideoWriter(tmp_path / "out.mp4", fps=10) as video:
            video.write(frames())
            return os.getpriority(os.PRIO_PROCESS, video._process.pid)

    job = queue.submit(render, "render")
    assert job.wait(60) and job.result == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5), job.error
    thread_nice = JobQueue(slots=1, nice=3).submit(
        lambda job: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), "nice")
    assert thread_nice.wait(30) and thread_nice.result == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)


def test_cancelling_a_job_kills_its_encoder_at_once(tmp_path):
    """A render waiting on ffmpeg stops when the job is cancelled, not after the batch."""
    queue = JobQueue(slots=1, nice=0)
    written = threading.Event()

    def render(job):
        with VideoWriter(tmp_path / "out.mp4", fps=10, size=64) as video:
            video.write(frames(2))
            written.set()
            while True:  # the caller never checks for cancel itself
                video.write(frames(8))

    job = queue.submit(render, "render")
    assert written.wait(60)
    job.cancel()
    assert job.wait(60) and job.status == "cancelled"
    assert list(tmp_path.iterdir()) == []  # no video, no partial


# Video files -----------------------------------------------------------------------------------

def test_partial_files_carry_the_writer_pid_and_later_writers_sweep_dead_ones(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".old.pid{dead.pid}.abc123.partial.mp4"
    stale.write_bytes(b"half a video")
    alive = tmp_path / f".other.pid{os.getpid()}.xyz789.partial.mp4"
    alive.write_bytes(b"someone is writing this")
    with VideoWriter(tmp_path / "new.mp4", fps=10) as video:
        partials = [p.name for p in tmp_path.glob(".new.*.partial.mp4")]
        assert len(partials) == 1 and f".pid{os.getpid()}." in partials[0]
        video.write(frames())
    assert not stale.exists() and alive.exists() and (tmp_path / "new.mp4").is_file()
    assert sweep_partials(tmp_path) == []


def test_a_finished_video_has_the_usual_permissions(tmp_path):
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=10) as video:
        video.write(frames())
    sidecar = tmp_path / "out.json"
    sidecar.write_text("{}")
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(sidecar.stat().st_mode)


def test_a_folder_as_output_is_refused_before_any_work_naming_the_users_path(tmp_path):
    folder = tmp_path / "videos.mp4"
    folder.mkdir()
    with pytest.raises(CgnArtError, match=f"^{folder} is a folder"):
        VideoWriter(folder, fps=10)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CgnArtError, match="a-file is a file, not a folder"):
        check_output(tmp_path / "a-file" / "x.mp4", ".mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "videos.mp4"]  # no partial left


def test_cli_dance_and_stylize_check_the_output_before_the_work(tmp_path, capsys):
    folder = tmp_path / "out.mp4"
    folder.mkdir()
    png_folder = tmp_path / "out.png"
    png_folder.mkdir()
    assert main(["dance", "--demo-song", "-o", str(folder), "--size", "64", "--device", "cpu"]) == 1
    assert main(["stylize", "demo:chelsea", "-o", str(png_folder), "--size", "64", "--steps", "5"]) == 1
    assert main(["stylize-walk", "demo:chelsea", "-o", str(folder), "--size", "64"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cgn-art: error:")]
    assert errors == [f"cgn-art: error: {folder} is a folder: give a file name for the video, e.g. {folder}/out.mp4",
                      f"cgn-art: error: {png_folder} is a folder: give a file name for the output, e.g. "
                      f"{png_folder}/out.png",
                      f"cgn-art: error: {folder} is a folder: give a file name for the video, e.g. {folder}/out.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "out.png"]  # not even the song's analysis
    assert list(folder.iterdir()) == [] and list(png_folder.iterdir()) == []


# Audio -----------------------------------------------------------------------------------------

def test_non_finite_samples_are_refused_when_the_audio_is_read(tmp_path, capsys):
    song = tmp_path / "nan.wav"
    sf.write(song, np.full(3 * 22050, np.nan, np.float32), 22050, subtype="FLOAT")
    with pytest.raises(CgnArtError, match=r"nan\.wav has 66,150 samples that are not numbers"):
        load_audio(song)
    some = tmp_path / "some-inf.wav"
    samples = np.sin(np.arange(3 * 22050) / 10).astype(np.float32)
    samples[100] = np.inf
    sf.write(some, samples, 22050, subtype="FLOAT")
    with pytest.raises(CgnArtError, match="1 samples that are not numbers"):
        load_audio(some)
    assert main(["dance", str(song), "-o", str(tmp_path / "x.mp4"), "--size", "64", "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("cgn-art: error: nan.wav has") and not (tmp_path / "x.mp4").exists()


# Session folders -------------------------------------------------------------------------------

def test_session_folders_go_when_the_session_ends_after_one_grace_sweep(tmp_path):
    folders = SessionFolders(tmp_path)
    a, b = folders.folder("a"), folders.folder("b")
    (a / "upload.wav").write_bytes(b"x")
    assert a.name.startswith(f"cgn-art-session-{os.getpid()}-") and folders.folder("a") == a
    active = {"a": False, "b": True}
    assert folders.sweep(active.get) == [] and a.is_dir()  # one sweep of grace: a reconnect keeps it
    assert folders.sweep(active.get) == ["a"] and not a.exists() and b.is_dir()
    assert folders.sweep(active.get, also=["gone"]) == [] and folders.sweep(active.get, also=["gone"]) == ["gone"]


def test_an_ended_sessions_folder_is_removed_again_when_a_late_writer_makes_it(tmp_path):
    """A job cancelled as its session ends may still make its output folder while it unwinds."""
    folders = SessionFolders(tmp_path, grace_sweeps=0)
    a = folders.folder("a")
    assert folders.sweep(lambda s: False) == ["a"] and not a.exists()
    (a / "late").mkdir(parents=True)  # the writer of a cancelled render, a moment too late
    (a / "late" / "partial.mp4").write_bytes(b"x")
    assert folders.sweep(lambda s: False) == [] and not a.exists()
    for _ in range(ENDED_RESWEEPS):
        folders.sweep(lambda s: False)
    a.mkdir()  # long after: no longer watched (a new session gets a new name anyway)
    folders.sweep(lambda s: False)
    assert a.is_dir()


def test_stale_session_folders_of_dead_servers_are_swept_at_start_up(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"cgn-art-session-{dead.pid}-abcd"
    left.mkdir()
    (left / "song.mp3").write_bytes(b"x")
    running = tmp_path / f"cgn-art-session-{os.getpid()}-efgh"
    running.mkdir()
    legacy_old, legacy_new = tmp_path / "cgn-art-session-old_1", tmp_path / "cgn-art-session-new_2"
    legacy_old.mkdir()
    legacy_new.mkdir()
    os.utime(legacy_old, (time.time() - 2 * 86400,) * 2)
    removed = SessionFolders(tmp_path).sweep_stale()
    assert sorted(p.name for p in removed) == sorted([left.name, legacy_old.name])
    assert running.is_dir() and legacy_new.is_dir() and not left.exists()


# Killing a real render -------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def start_render(folder: Path, name="song.mp4", size=1080) -> tuple[subprocess.Popen, int]:
    """A real `cgn-art dance` render, long enough to be killed mid-way; returns it and its ffmpeg."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", "import sys; from cgn_art.cli import main; sys.exit(main())",
                                "dance", "--demo-song", "-o",
                                str(folder / name), "--size", str(size), "--fps", "30", "--device", "cpu"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    found: list[int] = []

    def encoding() -> bool:
        if process.poll() is not None:
            return True
        found[:] = [c for c in children(process.pid) if b"ffmpeg" in Path(f"/proc/{c}/cmdline").read_bytes()]
        return bool(found) and any(p.stat().st_size > 0 for p in folder.glob(".*.partial.mp4"))

    wait_until(encoding, seconds=900)  # a fresh process compiles librosa first: minutes on a busy machine
    assert process.poll() is None and found, process.stderr.read().decode()[-2000:]
    return process, found[0]


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_term_like_int_stops_a_real_render_and_leaves_nothing(tmp_path, how):
    tmp_path = tmp_path / "videos"  # beside the analysis cache
    tmp_path.mkdir()
    process, ffmpeg = start_render(tmp_path)
    process.send_signal(how)
    process.wait(120)
    err = process.stderr.read().decode()
    assert process.returncode == 130 and "cgn-art: error: interrupted" in err
    assert wait_until(lambda: not running(ffmpeg))
    assert list(tmp_path.iterdir()) == []  # no video, no partial, no sidecar


def test_sigkill_takes_ffmpeg_along_and_the_next_run_sweeps_the_partial(tmp_path):
    tmp_path = tmp_path / "videos"  # beside the analysis cache
    tmp_path.mkdir()
    process, ffmpeg = start_render(tmp_path)
    process.kill()
    process.wait(60)
    assert wait_until(lambda: not running(ffmpeg))  # the parent-death signal
    left = list(tmp_path.glob(".*.partial.mp4"))
    assert len(left) == 1 and f".pid{process.pid}." in left[0].name
    assert main(["dance", "--demo-song", "-o", str(tmp_path / "next.mp4"), "--size", "64", "--preview", "1",
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next.json", "next.mp4"]
