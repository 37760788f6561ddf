"""Per-session temporary folders for a server: made on demand, removed when the session ends, and
swept at start-up when the server that made them is gone.

A folder is named ``cgn-art-session-PID-XXXX`` (PID: the server process), so a new server can tell
the folders of a server that died (or was killed) from those of one still running beside it.

>>> folders = SessionFolders()
>>> path = folders.folder("a-session-id")      # uploads and renders of that session go here
>>> folders.sweep(is_active=lambda sid: False)  # ended sessions lose their folders (after a grace sweep)

No Streamlit here: the app passes Streamlit's "is this session still connected" as ``is_active``.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

PREFIX = "cgn-art-session-"
_OURS = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")
LEGACY_MAX_AGE_S = 24 * 3600  # folders from before PIDs were in the name
ENDED_RESWEEPS = 12  # sweeps (5 s apart in the app) that remove an ended session's folder again


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SessionFolders:
    """One temporary folder per session id, owned by this process."""

    def __init__(self, root: str | os.PathLike | None = None, grace_sweeps: int = 1):
        self.root = Path(root or tempfile.gettempdir())
        self.grace_sweeps = int(grace_sweeps)  # sweeps a session must be seen ended before its folder goes
        self._folders: dict[str, Path] = {}
        self._unseen: dict[str, int] = {}
        # folders of ended sessions, and how many more sweeps remove them again: a job cancelled as
        # its session ended can still be unwinding (a writer making its output folder), so one rmtree
        # is not always the last word
        self._ended: dict[Path, int] = {}
        self._lock = threading.Lock()
        atexit.register(self.end_all)

    def folder(self, session_id: str) -> Path:
        """The session's folder (made now if it is new, or again if something removed it)."""
        with self._lock:
            path = self._folders.get(session_id)
            if path is None or not path.is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.root))
                self._folders[session_id] = path
            self._unseen.pop(session_id, None)
            return path

    def sessions(self) -> list[str]:
        with self._lock:
            return list(self._folders)

    def end(self, session_id: str) -> None:
        """Remove the session's folder now."""
        with self._lock:
            path = self._folders.pop(session_id, None)
            self._unseen.pop(session_id, None)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
            with self._lock:
                self._ended[path] = ENDED_RESWEEPS

    def end_all(self) -> None:
        for session_id in self.sessions():
            self.end(session_id)

    def sweep(self, is_active: Callable[[str], bool], also: list[str] | tuple = ()) -> list[str]:
        """End the sessions (of ours, plus ``also``) that ``is_active`` says are gone; returns them.

        A session must be seen gone ``grace_sweeps + 1`` times in a row, so a browser that reconnects
        within one sweep interval keeps its files. The next ``ENDED_RESWEEPS`` sweeps remove an ended
        session's folder again if something (a cancelled job still unwinding) wrote into it.
        """
        with self._lock:
            late = list(self._ended)
            for path in late:
                self._ended[path] -= 1
                if self._ended[path] <= 0:
                    del self._ended[path]
        for path in late:
            shutil.rmtree(path, ignore_errors=True)
        ended = []
        for session_id in dict.fromkeys([*self.sessions(), *also]):
            if is_active(session_id):
                with self._lock:
                    self._unseen.pop(session_id, None)
                continue
            with self._lock:
                count = self._unseen[session_id] = self._unseen.get(session_id, 0) + 1
            if count > self.grace_sweeps:
                self.end(session_id)
                ended.append(session_id)
        return ended

    def sweep_stale(self, max_legacy_age_s: float = LEGACY_MAX_AGE_S) -> list[Path]:
        """Remove session folders left by servers that are no longer running (at start-up)."""
        removed = []
        try:
            entries = [e for e in self.root.iterdir() if e.name.startswith(PREFIX) and e.is_dir()]
        except OSError:
            return removed
        now = time.time()
        for entry in entries:
            match = _OURS.match(entry.name)
            if match:
                stale = not _pid_alive(int(match.group(1)))
            else:  # an older server's folder, without its PID: only when clearly abandoned
                try:
                    stale = now - entry.stat().st_mtime > max_legacy_age_s
                except OSError:
                    stale = False
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed
