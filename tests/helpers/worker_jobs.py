"""Work for the worker-process tests: module-level functions, so a worker process finds them by name."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from PIL import Image

from cgn_art.errors import CgnArtError


def where(job):
    return {"pid": os.getpid(), "nice": os.getpriority(os.PRIO_PROCESS, 0)}


def report_until(job, gate: str):
    """Report progress and a preview until the file ``gate`` exists, then return."""
    job.preview = (Image.new("RGB", (8, 8), (255, 0, 0)), "red")
    while not Path(gate).exists():
        job.progress(0.25, f"working in {os.getpid()}")
        time.sleep(0.02)
    return "through the gate"


def forever(job, checks: bool, pid_file: str):
    """Runs until killed; with ``checks`` it reports (and so sees Cancel), without it never looks."""
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        if checks:
            job.progress(0.5, f"pid {os.getpid()}")
        time.sleep(0.02)


def user_error(job):
    raise CgnArtError("the song is too short")


def crash(job):
    raise ZeroDivisionError("division by zero")


def killed(job):
    os.kill(os.getpid(), signal.SIGKILL)


def write_pid_and_wait(job, path: str):
    Path(path).write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)
