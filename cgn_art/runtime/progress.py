"""Progress and cancellation for long work: the one definition every job, library function, page
and CLI command shares.

- :data:`Progress` is a plain callback ``progress(fraction, message)``; ``fraction`` runs from 0 to 1
  (``None`` for a message about setup work whose length is unknown).
- :func:`reporter` turns an optional callback into one that can always be called.
- :func:`sub_progress` maps a nested step's 0..1 into its share of the parent's bar.
- :data:`Cancel` is the one way to ask long work to stop: a function that returns True once it should
  (a ``threading.Event`` does too); :func:`as_cancel` turns ``None``, an Event or a function into
  one, and :func:`check` raises :class:`JobCancelled` once it says stop.
- :class:`JobCancelled` is the one exception for cancelled work (a :class:`~cgn_art.CgnArtError`,
  so a front that shows user errors shows it too).
- :func:`when_cancelled` runs a hook at once when the running job is cancelled (a video writer
  kills its encoder with it). The job queue (:mod:`cgn_art.runtime.jobs`) says which job runs on a
  thread through :func:`running`; this module never imports the queue, so library code can import
  it freely.

>>> seen = []
>>> half = sub_progress(lambda f, m: seen.append((round(f, 2), m)), 0.5, 1.0, "second half")
>>> half(0.5, "step 1/2")
>>> seen
[(0.75, 'second half: step 1/2')]
>>> stop = as_cancel(None)
>>> stop()
False
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cgn_art.errors import CgnArtError

__all__ = ["Cancel", "JobCancelled", "Progress", "as_cancel", "check", "quiet", "reporter", "running",
           "running_job", "step_message", "sub_progress", "when_cancelled"]

Progress = Callable[[float | None, str], None]
Cancel = Callable[[], bool]


class JobCancelled(CgnArtError):
    """The work was cancelled; whatever it was writing has been removed."""


def quiet(fraction: float | None, message: str = "") -> None:
    """The progress callback that reports nothing (the default where none is given)."""


def reporter(progress: Progress | None) -> Progress:
    """``progress``, or :func:`quiet` when it is None."""
    return quiet if progress is None else progress


def sub_progress(progress: Progress | None, start: float, end: float, label: str = "") -> Progress:
    """A callback for a nested step that fills ``start``..``end`` of ``progress``'s bar; its messages
    get ``label + ": "`` in front when a label is given. A fraction of None passes through."""
    report = reporter(progress)
    span = end - start

    def child(fraction: float | None, message: str = "") -> None:
        text = f"{label}: {message}" if label else message
        report(None if fraction is None else min(1.0, start + span * float(fraction)), text)
    return child


def step_message(step: int, steps: int, numbers: dict[str, float]) -> str:
    """A trainer's progress message: ``"step 50/6000  loss 0.123  ..."`` (the CLI's bar shows the
    step itself and keeps the rest).

    >>> step_message(50, 6000, {"loss": 0.1234})
    'step 50/6000  loss 0.123'
    """
    return f"step {step}/{steps}  " + "  ".join(f"{k} {v:.3f}" for k, v in numbers.items())


def as_cancel(cancel: Cancel | threading.Event | None) -> Cancel:
    """A function that says whether to stop, from ``None`` (never), a ``threading.Event`` or a
    function returning True once the work should stop."""
    if cancel is None:
        return _never
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return lambda: bool(cancel())


def check(cancel: Cancel | threading.Event | None, message: str) -> None:
    """Raise :class:`JobCancelled` with ``message`` if ``cancel`` says stop."""
    if cancel is not None and as_cancel(cancel)():
        raise JobCancelled(message)


def _never() -> bool:
    return False


# The job running on this thread -------------------------------------------------------------------

_local = threading.local()


@contextmanager
def running(job: Any) -> Iterator[Any]:
    """Say that ``job`` (anything with ``on_cancel(hook) -> remover``) runs on this thread while the
    ``with`` lasts; the job queue wraps each job's work in it."""
    before = getattr(_local, "job", None)
    _local.job = job
    try:
        yield job
    finally:
        _local.job = before


def running_job() -> Any:
    """The job running on this thread, if any."""
    return getattr(_local, "job", None)


def when_cancelled(hook: Callable[[], None]) -> Callable[[], None]:
    """Run ``hook()`` at once (on the cancelling thread) if the job running on this thread is
    cancelled; returns a function that removes the hook. Outside a job it does nothing."""
    job = running_job()
    return job.on_cancel(hook) if job is not None else _nothing


def _nothing() -> None:
    pass
