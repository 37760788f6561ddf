"""Where librosa's compiled numba code is kept, and one process at a time compiling it.

numba keeps compiled code on disk. A guvectorize function (librosa's beat tracker and peak picker
are) is kept as two files, the kernel and its wrapper, and the wrapper calls the kernel by a name
that carries a per-process counter. When two processes compile such a function at the same time,
each may write one of the pair, and every later process that loads the mismatched pair calls a
null pointer (numba issue 10128, still open in numba 0.68). That is how CI lost the Latent Dance
server and three CLI renders to signal 11 during "Preparing librosa": the test process and the
app's server had both been warming librosa up.

So cgn-art runs librosa only while holding an exclusive lock on a file beside the cache: one
process compiles and writes, the others wait and then load a consistent pair. The cache itself is
cgn-art's own folder (``~/.cache/cgn-art/numba``, or ``$NUMBA_CACHE_DIR`` when set), so a cache that
another program poisoned in librosa's package folder is never read.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

LOCK_NAME = ".cgn-art-compile.lock"


def cache_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """``$NUMBA_CACHE_DIR`` when the user set it, else ``~/.cache/cgn-art/numba``.

    Not under ``$CGN_ART_CACHE`` like the analysis cache (audio/cache.py): tests and users point that
    at fresh folders, and each would then recompile librosa (40 s and more) and lock a different file."""
    return Path(environ.get("NUMBA_CACHE_DIR") or Path.home() / ".cache" / "cgn-art" / "numba")


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def configure() -> Path | None:
    """Point numba's cache at :func:`cache_folder` before librosa is imported; returns the folder,
    or None where it cannot be written (numba then picks its own place, and nothing is locked)."""
    folder = cache_folder()
    if not _usable(folder):
        return None
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        config = sys.modules.get("numba.core.config")
        if config is not None:  # numba already imported: its settings were read from the old environment
            config.CACHE_DIR = str(folder)
    return folder


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the cross-process lock while the block compiles or runs librosa's numba code.

    Threads of one process also take turns: each opens the file itself, and flock locks belong to
    the open file, not the process.
    """
    folder = configure()
    try:
        import fcntl
    except ImportError:  # not POSIX: no flock
        fcntl = None
    if folder is None or fcntl is None:
        yield
        return
    with open(folder / LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
