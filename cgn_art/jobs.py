"""Heavy jobs (renders, stylizations, lab runs) share the machine fairly.

At most ``slots`` heavy jobs run at once (by default half the CPU cores, at least one; set
``CGN_ART_HEAVY_JOBS`` to change it); the rest wait in line, first come first served, and can leave
the line at any time. Each job runs on its own thread; the video encoders it starts run at a lower
CPU priority (``CGN_ART_ENCODER_NICE``, default 10 above the server's), so light work such as the
Mixer never waits behind a render's encoding, the biggest part of its cost. The job's own thread
keeps the server's priority by default (``CGN_ART_JOB_NICE``, default 0): a thread that holds
Python's GIL must not be starved, or every page of the server waits for it.

A job's work is a function of the :class:`Job` it runs as: it reports with ``job.progress(fraction,
message)`` (which raises :class:`JobCancelled` once the job is cancelled) and can ask
``job.cancelled()`` between steps. Cancelling also runs the job's cancel hooks at once: a video
writer registers one that kills its encoder, so a render stops within a second instead of after the
batch it is encoding.

>>> queue = JobQueue(slots=1)
>>> job = queue.submit(lambda job: sum(range(10)), label="sum")
>>> job.wait(); job.status, job.result
('done', 45)

No Streamlit here: the app shows a job's place in line and progress, and its Cancel button calls
:meth:`Job.cancel` (app/common.py).
"""
from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from cgn_art.errors import CgnArtError

__all__ = ["Job", "JobCancelled", "JobQueue", "current_job", "default_queue", "default_slots"]

log = logging.getLogger(__name__)

WAITING, RUNNING, DONE, FAILED, CANCELLED = "waiting", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
_local = threading.local()


class JobCancelled(CgnArtError):
    """The job was cancelled; whatever it was writing has been removed."""


def current_job() -> Job | None:
    """The job running on this thread, if any (a video writer hooks its encoder to it)."""
    return getattr(_local, "job", None)


def default_slots() -> int:
    """``CGN_ART_HEAVY_JOBS``, else half the cores this process may use (at least 1)."""
    text = os.environ.get("CGN_ART_HEAVY_JOBS", "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise CgnArtError(f"CGN_ART_HEAVY_JOBS={text!r}: give a whole number of heavy jobs, 1 or more")
        return value
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class Job:
    """One heavy job: its state, progress, result or error, and its cancel switch."""

    def __init__(self, queue: JobQueue, work: Callable[[Job], Any], label: str, owner: str | None):
        self.queue, self.work, self.label, self.owner = queue, work, label, owner
        self.status = WAITING
        self.fraction, self.message = 0.0, "Waiting for a free slot…"
        self.preview: Any = None            # e.g. the latest in-between picture
        self.result: Any = None
        self.error: str | None = None       # one readable line when the job failed
        self.submitted = time.monotonic()
        self.started: float | None = None
        self.ended: float | None = None
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Job({self.label!r}, {self.status})"

    # Read by the page ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def place(self) -> int:
        """1 for the first in line, 2 for the next, ...; 0 once it runs or has ended."""
        return self.queue.place(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (done, failed or cancelled); False on timeout."""
        return self._done.wait(timeout)

    # Called by the work ----------------------------------------------------------------------

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, fraction: float, message: str) -> None:
        """Report progress; raises JobCancelled once the job has been cancelled."""
        self.fraction, self.message = max(0.0, min(1.0, float(fraction))), str(message)
        if self._cancel.is_set():
            raise JobCancelled(f"{self.label} was cancelled")

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run ``hook()`` (on the cancelling thread) when the job is cancelled; returns a remover."""
        with self._lock:
            run_now = self._cancel.is_set()
            if not run_now:
                self._hooks.append(hook)
        if run_now:
            _safely(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)
        return remove

    # Called by anyone ------------------------------------------------------------------------

    def cancel(self) -> None:
        """Leave the line, or stop the running work (its hooks run now; the work ends at its next check)."""
        with self._lock:
            if self.finished or self._cancel.is_set():
                return
            self._cancel.set()
            hooks, self._hooks = self._hooks, []
        self.message = "Cancelling…"
        if not self.queue._withdraw(self):
            for hook in hooks:
                _safely(hook)

    # Run by the queue ------------------------------------------------------------------------

    def _run(self, nice: int) -> None:
        _local.job = self
        if nice:
            try:  # per thread on Linux; torch's worker threads and ffmpeg inherit it
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
            except (AttributeError, OSError):
                pass
        try:
            if self._cancel.is_set():
                raise JobCancelled(f"{self.label} was cancelled")
            result = self.work(self)
            if self._cancel.is_set():  # the work stopped early and returned what it had: not a result
                raise JobCancelled(f"{self.label} was cancelled")
            self.result, status = result, DONE
        except BaseException as e:  # noqa: BLE001 - every ending is reported on the page
            status = self._failure(e)
        finally:
            _local.job = None
        self._end(status)

    def _failure(self, e: BaseException) -> str:
        if self._cancel.is_set() or isinstance(e, JobCancelled):
            return CANCELLED
        if isinstance(e, CgnArtError):
            self.error = str(e)
        else:
            log.error("heavy job %r failed:\n%s", self.label, "".join(traceback.format_exception(e)))
            self.error = f"{self.label} failed unexpectedly ({type(e).__name__}: {e})"
        return FAILED

    def _end(self, status: str) -> None:
        self.status, self.ended = status, time.monotonic()
        if status == CANCELLED:
            self.message = "Cancelled"
        elif status == DONE:
            self.fraction = 1.0
        self.queue._finished(self)
        self._done.set()


def _safely(hook) -> None:
    try:
        hook()
    except Exception:  # a failing hook must not stop the others
        log.exception("cancel hook failed")


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    try:
        return int(text) if text else default
    except ValueError:
        raise CgnArtError(f"{name}={text!r}: give a whole number (a nice value, 0-19)") from None


class JobQueue:
    """At most ``slots`` jobs run at once; the rest wait in line, first come first served."""

    def __init__(self, slots: int | None = None, nice: int | None = None, encoder_nice: int | None = None):
        self.slots = default_slots() if slots is None else int(slots)
        if self.slots < 1:
            raise CgnArtError(f"a job queue needs at least 1 slot, not {slots}")
        self.nice = _env_int("CGN_ART_JOB_NICE", 0) if nice is None else int(nice)
        self.encoder_nice = _env_int("CGN_ART_ENCODER_NICE", 10) if encoder_nice is None else int(encoder_nice)
        self._lock = threading.Lock()
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []

    def submit(self, work: Callable[[Job], Any], label: str = "job", owner: str | None = None) -> Job:
        """Queue ``work(job)``; it starts as soon as a slot is free."""
        job = Job(self, work, label, owner)
        with self._lock:
            self._waiting.append(job)
        self._dispatch()
        return job

    def place(self, job: Job) -> int:
        with self._lock:
            try:
                return self._waiting.index(job) + 1
            except ValueError:
                return 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Running then waiting jobs (of one owner, if given)."""
        with self._lock:
            every = [*self._running, *self._waiting]
        return [j for j in every if owner is None or j.owner == owner]

    def cancel_owner(self, owner: str) -> list[Job]:
        """Cancel every job of ``owner`` (a browser session that has ended)."""
        jobs = self.jobs(owner)
        for job in jobs:
            job.cancel()
        return jobs

    def _withdraw(self, job: Job) -> bool:
        """Take a waiting job out of the line (True), or say it is not waiting (False)."""
        with self._lock:
            if job not in self._waiting:
                return False
            self._waiting.remove(job)
        job._end(CANCELLED)
        return True

    def _finished(self, job: Job) -> None:
        with self._lock:
            if job in self._running:
                self._running.remove(job)
        self._dispatch()

    def _dispatch(self) -> None:
        start = []
        with self._lock:
            while self._waiting and len(self._running) < self.slots:
                job = self._waiting.popleft()
                job.status, job.started, job.message = RUNNING, time.monotonic(), "Starting…"
                self._running.append(job)
                start.append(job)
        for job in start:
            threading.Thread(target=job._run, args=(self.nice,), name=f"cgn-art job: {job.label}",
                             daemon=True).start()


_default: JobQueue | None = None
_default_lock = threading.Lock()


def default_queue() -> JobQueue:
    """The process's one queue of heavy jobs (the app's pages all share it)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobQueue()
        return _default
