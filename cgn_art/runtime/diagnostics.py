"""What a process leaves behind when native code crashes it."""
from __future__ import annotations

import faulthandler


def trace_native_crashes() -> None:
    """Have a segmentation fault (numba, torch, an ffmpeg binding) print every thread's Python stack
    to stderr before the process dies, so a crash says where it was. Does nothing where stderr is
    not a real file (an embedding host that captured it), or where tracing is already on."""
    if faulthandler.is_enabled():
        return
    try:
        faulthandler.enable()
    except (AttributeError, OSError, RuntimeError, ValueError):  # no file descriptor behind stderr
        pass
