"""Heavy jobs in worker processes (issue 15's fair sharing): the server's queue runs each job in a
process of its own at the lowest priority; progress, previews, results, errors and Cancel cross the
process boundary, and a worker never outlives its job or its server."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import running, wait_until
from helpers.worker_jobs import crash, forever, killed, report_until, user_error, where

import cgn_art
from cgn_art.audio import analyse_file
from cgn_art.audio.demo_song import SHIPPED
from cgn_art.dance import DanceSettings
from cgn_art.errors import CgnArtError
from cgn_art.runtime import heavy_jobs
from cgn_art.runtime.jobs import JobQueue

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def queue():
    return JobQueue(slots=2, isolation="process")


def gone_within(pid: int, seconds: float) -> bool:
    return wait_until(lambda: not running(pid), seconds)


# Work for the workers: module-level, so it pickles by name ------------------------------------


# Tests ------------------------------------------------------------------------------------------

def test_a_job_runs_in_a_process_of_its_own_at_the_lowest_priority(queue):
    job = queue.submit(where, "where")
    assert job.wait(120) and job.status == "done", job.error
    assert job.result["pid"] != os.getpid()
    assert job.result["nice"] == 19 > os.getpriority(os.PRIO_PROCESS, 0)


def test_a_page_script_as_main_does_not_run_again_in_the_worker(queue, monkeypatch):
    """Streamlit installs the page script it runs as ``__main__``; multiprocessing would run it again in
    each worker (outside Streamlit, where a page fails), unless the workers skip that."""
    page = types.ModuleType("__main__")
    page.__file__ = str(ROOT / "app" / "views" / "dance.py")
    monkeypatch.setitem(sys.modules, "__main__", page)
    job = queue.submit(where, "render")
    assert job.wait(120) and job.status == "done", job.error


def test_progress_and_previews_come_back_while_it_runs(queue, tmp_path):
    gate = tmp_path / "gate"
    job = queue.submit(report_until, "stylization", args=(str(gate),))
    assert wait_until(lambda: job.message.startswith("working in"))
    assert job.fraction == 0.25 and job.status == "running"
    image, caption = job.preview
    assert caption == "red" and np.asarray(image)[0, 0].tolist() == [255, 0, 0]
    worker = int(job.message.split()[-1])
    gate.touch()
    assert job.wait(60) and job.result == "through the gate"
    assert gone_within(worker, 10)


@pytest.mark.parametrize("checks", [True, False], ids=["work that checks", "work that never checks"])
def test_cancel_stops_the_worker_and_leaves_no_process(queue, checks, tmp_path):
    pid_file = tmp_path / "worker.pid"
    job = queue.submit(forever, "render", args=(checks, str(pid_file)))
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip())
    worker = int(pid_file.read_text())
    job.cancel()
    # Work that looks stops at its next report; work that never does is killed after the grace.
    assert job.wait(30) and job.status == "cancelled" and job.message == "Cancelled"
    assert gone_within(worker, 10)


def test_errors_come_back_as_one_readable_line(queue):
    jobs = [queue.submit(work, label) for work, label in
            ((user_error, "render"), (crash, "stylization"), (killed, "experiment"))]
    assert all(job.wait(120) for job in jobs)
    assert [job.status for job in jobs] == ["failed"] * 3
    assert jobs[0].error == "the song is too short"
    assert jobs[1].error == "stylization failed unexpectedly (ZeroDivisionError: division by zero)"
    assert jobs[2].error.startswith("experiment failed unexpectedly (its worker process was killed by SIGKILL")
    assert "\n" not in "".join(job.error for job in jobs)


def test_work_that_cannot_cross_to_a_process_is_refused_at_once(queue):
    with pytest.raises(CgnArtError, match="module-level function"):
        queue.submit(lambda job: 1, "render")
    job = queue.submit(where, "render")  # the queue still works
    assert job.wait(120) and job.status == "done"


def test_a_real_render_cancelled_in_its_worker_leaves_no_encoder_and_no_partial(queue, tmp_path):
    model = cgn_art.load_model("letters")
    settings = DanceSettings(size=720)
    features = analyse_file(SHIPPED, 0, 20)
    out = tmp_path / "render" / "song.mp4"
    job = queue.submit(heavy_jobs.render_video, "render", args=(model, SHIPPED, out, settings, features, None))
    assert wait_until(lambda: job.message.startswith("Rendered frame"), 180), (job.status, job.message, job.error)
    encoders = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                if str(out.parent) in _cmdline(pid)]
    assert encoders and list(out.parent.glob(".*partial*"))  # ffmpeg is writing its partial file
    job.cancel()
    assert job.wait(30) and job.status == "cancelled"
    assert all(gone_within(pid, 10) for pid in encoders)
    assert list(out.parent.iterdir()) == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_worker_dies_with_its_server(tmp_path):
    """A server killed with SIGKILL runs no clean-up: its workers must still end."""
    pid_file = tmp_path / "worker.pid"
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from cgn_art.runtime.jobs import JobQueue
        from helpers import worker_jobs
        queue = JobQueue(slots=1, isolation="process")
        job = queue.submit(worker_jobs.write_pid_and_wait, "render", args=({str(pid_file)!r},))
        time.sleep(600)
    """)
    server = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 120)
        worker = int(pid_file.read_text())
        assert running(worker)
        server.kill()
        server.wait(10)
        assert gone_within(worker, 15)
    finally:
        server.kill()


