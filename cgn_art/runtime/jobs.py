"""Heavy jobs (renders, stylizations, lab runs) share the machine fairly.

At most ``slots`` heavy jobs run at once (by default half the CPU cores, at least one; set
``CGN_ART_HEAVY_JOBS`` to change it); the rest wait in line, first come first served, and can leave
the line at any time.

Where a job runs (``isolation``):

- ``"process"`` (the app's server, :func:`default_queue`): each job runs in a worker process of its
  own at the lowest CPU priority (nice 19), so the server's pages and the Mixer take the cores
  first and the job has what is left. A thread would not do: it shares the
  server's GIL and torch's thread pool, and on two cores two renders made each Mixer change take
  five seconds (benchmarks/server_load.py). The work and its arguments are pickled to the worker
  (forkserver on Linux: a clean process forked per job, torch already imported); progress, previews
  and the result come back through a pipe. Cancel asks the worker to stop and kills it if it has not
  within a few seconds; a worker whose server has died stops the same way.
- ``"thread"`` (the default for a queue you make yourself, and the app's with
  ``CGN_ART_JOB_ISOLATION=thread``): each job runs on a thread of this process. Its own priority
  stays the server's unless ``CGN_ART_JOB_NICE`` says otherwise (default 0): a thread that holds
  Python's GIL must not be starved, or every page of the server waits for it.

Either way the video encoders a job starts run ``CGN_ART_ENCODER_NICE`` (default 10) lower still.

A job's work is a function of the :class:`Job` it runs as: it reports with ``job.progress(fraction,
message)`` (which raises :class:`JobCancelled` once the job is cancelled) and can ask
``job.cancelled()`` between steps. Cancelling also runs the job's cancel hooks at once: a video
writer registers one that kills its encoder, so a render stops within a second instead of after the
batch it is encoding.

>>> queue = JobQueue(slots=1)
>>> job = queue.submit(lambda job, n: sum(range(n)), label="sum", args=(10,))
>>> job.wait(); job.status, job.result
('done', 45)

No Streamlit here: the app shows a job's place in line and progress, and its Cancel button calls
:meth:`Job.cancel` (app/common.py).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from cgn_art.errors import CgnArtError
from cgn_art.runtime.progress import JobCancelled, running, running_job

__all__ = ["ISOLATIONS", "Job", "JobCancelled", "JobQueue", "current_job", "default_queue", "default_slots"]

log = logging.getLogger(__name__)

WAITING, RUNNING, DONE, FAILED, CANCELLED = "waiting", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
ISOLATIONS = ("process", "thread")
CANCEL_GRACE_S = 5.0     # a worker that has not stopped this long after Cancel is killed
PROGRESS_EVERY_S = 0.1   # a worker sends progress at most this often (the page polls every 0.5 s)
# Imported once by the forkserver, so that each job's worker starts with them in memory.
WORKER_PRELOAD = ["cgn_art.runtime.worker_boot", "torch", "numpy", "PIL.Image", "cgn_art", "cgn_art.video",
                  "cgn_art.runtime.heavy_jobs"]


def current_job() -> Job | None:
    """The job running on this thread, if any (a video writer hooks its encoder to it)."""
    return running_job()


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

    def __init__(self, queue: JobQueue, work: Callable[..., Any], label: str, owner: str | None,
                 args: tuple = ()):
        self.queue, self.work, self.label, self.owner, self.args = queue, work, label, owner, tuple(args)
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
        with running(self):
            status = self._run_here(nice)
        self._end(status)

    def _run_here(self, nice: int) -> str:
        in_process = self.queue.isolation == "process"
        if nice and not in_process:
            _lower_priority(threading.get_native_id(), nice)  # torch's worker threads and ffmpeg inherit it
        try:
            if self._cancel.is_set():
                raise JobCancelled(f"{self.label} was cancelled")
            result = _run_in_worker(self, nice) if in_process else self.work(self, *self.args)
            if self._cancel.is_set():  # the work stopped early and returned what it had: not a result
                raise JobCancelled(f"{self.label} was cancelled")
            self.result = result
            return DONE
        except BaseException as e:  # noqa: BLE001 - every ending is reported on the page
            return self._failure(e)

    def _failure(self, e: BaseException) -> str:
        if self._cancel.is_set() or isinstance(e, JobCancelled):
            return CANCELLED
        if isinstance(e, CgnArtError):
            self.error = str(e)
        elif isinstance(e, WorkerCrashed):
            log.error("heavy job %r failed in its worker process:\n%s", self.label, e.details)
            self.error = f"{self.label} failed unexpectedly ({e})"
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


def _lower_priority(tid: int, nice: int) -> None:
    """Raise a thread's (or process's: ``tid`` 0) nice value by ``nice``, up to 19."""
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):
        pass


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    try:
        return int(text) if text else default
    except ValueError:
        raise CgnArtError(f"{name}={text!r}: give a whole number (a nice value, 0-19)") from None


class JobQueue:
    """At most ``slots`` jobs run at once; the rest wait in line, first come first served."""

    def __init__(self, slots: int | None = None, nice: int | None = None, encoder_nice: int | None = None,
                 isolation: str = "thread"):
        self.slots = default_slots() if slots is None else int(slots)
        if self.slots < 1:
            raise CgnArtError(f"a job queue needs at least 1 slot, not {slots}")
        if isolation not in ISOLATIONS:
            raise CgnArtError(f"isolation {isolation!r}: give one of {', '.join(ISOLATIONS)}")
        self.isolation = isolation
        default_nice = 19 if isolation == "process" else 0
        self.nice = _env_int("CGN_ART_JOB_NICE", default_nice) if nice is None else int(nice)
        self.encoder_nice = _env_int("CGN_ART_ENCODER_NICE", 10) if encoder_nice is None else int(encoder_nice)
        self._lock = threading.Lock()
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []

    def submit(self, work: Callable[..., Any], label: str = "job", owner: str | None = None,
               args: tuple = ()) -> Job:
        """Queue ``work(job, *args)``; it starts as soon as a slot is free. With process isolation,
        ``work`` must be a module-level function (it is pickled by name) and ``args`` picklable."""
        if self.isolation == "process":
            try:
                pickle.dumps(work)
            except Exception as e:  # a lambda or a nested function: a programming error, said plainly
                raise CgnArtError(f"{label}: a job for a worker process must be a module-level function, "
                                  f"not {work!r} ({type(e).__name__})") from None
        job = Job(self, work, label, owner, args)
        with self._lock:
            self._waiting.append(job)
        self._dispatch()
        return job

    def warm(self) -> None:
        """Start the forkserver now, in the background (it imports torch once, a few seconds), so
        the first job does not wait for it."""
        if self.isolation != "process":
            return

        def start() -> None:
            try:
                if _worker_context().get_start_method() == "forkserver":
                    from multiprocessing import forkserver
                    forkserver.ensure_running()
            except Exception:  # the first job will try again, and say what failed
                log.exception("could not start the worker processes' forkserver")
        threading.Thread(target=start, name="cgn-art forkserver", daemon=True).start()

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


def default_isolation() -> str:
    """``CGN_ART_JOB_ISOLATION`` (``process`` or ``thread``), else ``process``."""
    text = os.environ.get("CGN_ART_JOB_ISOLATION", "").strip().lower() or "process"
    if text not in ISOLATIONS:
        raise CgnArtError(f"CGN_ART_JOB_ISOLATION={text!r}: give one of {', '.join(ISOLATIONS)}")
    return text


def default_queue() -> JobQueue:
    """The process's one queue of heavy jobs (the app's pages all share it): jobs run in worker
    processes unless ``CGN_ART_JOB_ISOLATION=thread``."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobQueue(isolation=default_isolation())
            _default.warm()
        return _default


# Worker processes -----------------------------------------------------------------------------

class WorkerCrashed(Exception):
    """The work raised something other than a user error in its worker process, or the worker died."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details or message


_context_lock = threading.Lock()
_context_made: Any = None


def _worker_context():
    """forkserver where there is one (a clean parent, unlike this multi-threaded server: forking that
    could copy a held lock or torch's thread pool), else spawn."""
    global _context_made
    with _context_lock:
        if _context_made is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            _context_made = multiprocessing.get_context(method)
            if method == "forkserver":
                _context_made.set_forkserver_preload(WORKER_PRELOAD)
        return _context_made


def _run_in_worker(job: Job, nice: int) -> Any:
    """Run ``job.work(job, *job.args)`` in a worker process; relay its progress; return its result."""
    context = _worker_context()
    worker_inbox, to_worker = context.Pipe(duplex=False)  # (reading end, writing end)
    from_worker, worker_outbox = context.Pipe(duplex=False)
    process = context.Process(target=_worker_main, name=f"cgn-art job: {job.label}", daemon=True,
                              args=(worker_inbox, worker_outbox, job.work, job.args, job.label, nice,
                                    job.queue.encoder_nice))
    try:
        process.start()
    except Exception as e:  # noqa: BLE001 - e.g. an argument that cannot be pickled
        raise WorkerCrashed(f"it could not be handed to a worker process: {type(e).__name__}: {e}") from None
    finally:
        worker_inbox.close()
        worker_outbox.close()
    lock = threading.Lock()

    def ask_to_stop() -> None:
        with lock:
            try:
                to_worker.send("cancel")
            except (OSError, ValueError):
                pass
    remove = job.on_cancel(ask_to_stop)
    cancelled_at = None
    try:
        while True:
            if job._cancel.is_set():
                cancelled_at = cancelled_at or time.monotonic()
                if time.monotonic() - cancelled_at > CANCEL_GRACE_S:
                    raise JobCancelled(f"{job.label} was cancelled")  # the finally kills the worker
            message = _receive(from_worker, process)
            if message is None:
                continue
            kind = message[0]
            if kind == "progress":
                if not job._cancel.is_set():  # the panel keeps saying "Cancelling…"
                    job.fraction, job.message = message[1], message[2]
            elif kind == "preview":
                job.preview = message[1]
            elif kind == "done":
                return message[1]
            elif kind == "cancelled":
                raise JobCancelled(f"{job.label} was cancelled")
            elif kind == "failed":
                raise CgnArtError(message[1])
            elif kind == "crashed":
                raise WorkerCrashed(message[1], message[2])
            else:  # "gone": the worker ended without a word
                if job._cancel.is_set():
                    raise JobCancelled(f"{job.label} was cancelled")
                raise WorkerCrashed(_death(process))
    finally:
        remove()
        with lock:
            to_worker.close()
        from_worker.close()
        process.join(1.0 if cancelled_at is None else 0.2)
        if process.exitcode is None:
            process.kill()  # its encoder dies with it (a parent-death signal, video._child_setup)
            process.join(5.0)


def _receive(connection, process) -> tuple | None:
    """The worker's next message, None if none came within 0.1 s, or ("gone",) once it has ended."""
    try:
        if connection.poll(0.1):
            return connection.recv()
    except (EOFError, OSError):
        return ("gone",)
    if process.exitcode is not None:
        try:  # its last words may have arrived just before it ended
            return connection.recv() if connection.poll(0) else ("gone",)
        except (EOFError, OSError):
            return ("gone",)
    return None


def _death(process) -> str:
    process.join(1.0)
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (by hand, or by the system when memory ran out)" if -code == signal.SIGKILL else ""
        return f"its worker process was killed by {name}{hint}"
    return f"its worker process stopped with exit code {code} before it finished"


class _WorkerQueue:
    """What a job inside its worker process sees of its queue (the encoder's nice, no line)."""

    def __init__(self, encoder_nice: int):
        self.encoder_nice = encoder_nice

    def place(self, job) -> int:
        return 0

    def _withdraw(self, job) -> bool:
        return False


class _WorkerJob(Job):
    """The job as its work sees it in the worker process: progress and previews go to the server."""

    def __init__(self, label: str, encoder_nice: int, send: Callable[[tuple], None]):
        self._send = None
        super().__init__(_WorkerQueue(encoder_nice), None, label, None)
        self.status, self._send, self._sent_at = RUNNING, send, 0.0

    @property
    def preview(self) -> Any:
        return self._preview

    @preview.setter
    def preview(self, value: Any) -> None:
        self._preview = value
        if self._send is not None and value is not None:
            self._send(("preview", value))

    def progress(self, fraction: float, message: str) -> None:
        super().progress(fraction, message)
        now = time.monotonic()
        if now - self._sent_at >= PROGRESS_EVERY_S:
            self._sent_at = now
            self._send(("progress", self.fraction, self.message))


def _worker_main(inbox, outbox, work, args, label: str, nice: int, encoder_nice: int) -> None:
    """A worker process: run one job, say how it ended, exit."""
    if nice:
        _lower_priority(0, nice)
    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            outbox.send(message)
    job = _WorkerJob(label, encoder_nice, send)

    def listen() -> None:
        try:
            while inbox.recv() != "cancel":
                pass
            job.cancel()
            return
        except (EOFError, OSError):
            pass
        # The server has gone (or has its answer): stop as if cancelled, and make sure of it. The
        # parent-death signal cannot do this: the forkserver lives as long as any of its workers.
        job.cancel()
        time.sleep(CANCEL_GRACE_S)
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=listen, name="cgn-art job: listen", daemon=True).start()
    with running(job):
        try:
            result = work(job, *args)
            ending = ("cancelled",) if job.cancelled() else ("done", result)
        except BaseException as e:  # noqa: BLE001 - every ending is reported to the server
            if job.cancelled() or isinstance(e, JobCancelled):
                ending = ("cancelled",)
            elif isinstance(e, CgnArtError):
                ending = ("failed", str(e))
            else:
                ending = ("crashed", f"{type(e).__name__}: {e}", "".join(traceback.format_exception(e)))
    try:
        send(ending)
    except Exception as e:  # noqa: BLE001 - a result that cannot be pickled
        send(("crashed", f"its result could not be sent back ({type(e).__name__}: {e})", ""))
