"""Imported once by the forkserver that starts the app's worker processes (:mod:`cgn_art.runtime.jobs`).

multiprocessing runs the parent's ``__main__`` module again in each child it starts with spawn or
forkserver, so that functions defined there can be found. In a Streamlit server ``__main__`` is
whichever page script ran last (Streamlit installs it so); run again outside Streamlit, a page fails
(or worse, renders). Jobs are functions in importable modules (cgn_art.runtime.heavy_jobs), so the workers
skip that step. This touches multiprocessing's private functions, in the worker processes only; the
tests (tests/test_worker_jobs.py) start jobs after an AppTest has replaced ``__main__``.

The forkserver also drops to the lowest CPU priority before its imports: they take seconds of CPU
(torch, librosa) while the server's first pages are being drawn, and its workers run there anyway.
"""
import os

try:
    os.nice(19 - os.nice(0))
except OSError:
    pass

import multiprocessing.spawn as _spawn  # noqa: E402 - after the nice, which should come first


def _keep_main(_name_or_path: str) -> None:
    """The worker keeps its own ``__main__`` (the forkserver's)."""


_spawn._fixup_main_from_path = _keep_main
_spawn._fixup_main_from_name = _keep_main
