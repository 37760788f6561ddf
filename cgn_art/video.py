"""Stream frames into a browser-playable mp4 (H.264 yuv420p, optional AAC audio) one batch at a time.

The whole video is never held in memory: each frame goes down a pipe to an ffmpeg process
(imageio-ffmpeg's binary) as soon as it is pushed. A background thread feeds the pipe, so the
caller can compute the next frames while ffmpeg encodes the last ones (ffmpeg is its own process,
so the two really do run side by side).

>>> import numpy as np
>>> from cgn_art.video import VideoWriter
>>> with VideoWriter("out.mp4", fps=24, size=128) as video:     # audio="song.wav" adds a sound track
...     for grey in (0, 128, 255):      # uint8 (H, W, 3) / (N, H, W, 3), or float (N, 3, H, W) in [0, 1]
...         video.write(np.full((8, 64, 64, 3), grey, np.uint8))
>>> video.frames_written
24

``video.cancel()``, or an exception inside the ``with``, stops ffmpeg and leaves no partial out.mp4.

- ``size``: the output size (an int for a square, or (width, height)); frames of another size are
  scaled by ffmpeg (bicubic), so a caller can render small and let the encoder upscale in C.
  Defaults to the first frame's size. Odd sides are rounded up to even (yuv420p needs even sides).
- ``audio``: any file ffmpeg reads; ``audio_start``/``audio_duration`` (seconds) pick a stretch.
  The video ends with the shorter of the two streams.
- ``preset``/``crf``: libx264 speed and quality. 'veryfast' is ~3x faster than 'medium' for the
  same file size on the smooth, upsampled images a CGN draws.
- The file is written under a temporary name next to ``path`` and renamed when complete, so
  ``path`` only ever holds a finished video. On an exception inside the ``with`` block, or on
  :meth:`cancel`, ffmpeg is stopped and the partial file removed.
- Nothing outlives a killed writer for long: ffmpeg runs in its own process group (a Ctrl-C in the
  terminal reaches only Python, which stops ffmpeg itself) and, on Linux, is killed by the kernel
  when the thread that started it dies, even by SIGKILL. The partial file's name carries the
  writer's PID (``.NAME.pidPID.XXXX.partial.mp4``); a later writer in the same folder removes the
  partials whose writer is gone (:func:`sweep_partials`).
- ``cancel`` (a :data:`~cgn_art.runtime.progress.Cancel`) is asked before each write; once it says
  stop, the writer removes its partial file and raises :class:`JobCancelled`. Inside a heavy job
  cancelling the job also kills ffmpeg at once (through
  :func:`~cgn_art.runtime.progress.when_cancelled`; this module never imports the job queue), so
  the render stops within a second even when it is waiting on the encoder; and ffmpeg runs at the
  job's lower encoder priority (``encoder_nice``), so pages stay quick while it encodes.
- The destination is checked before any work (:func:`check_output`): a folder, a missing or
  read-only folder is reported naming the user's path. The finished file gets the usual
  permissions (0666 less the umask), like any other file the program writes.

:func:`write_video` wraps the same for an iterable of frames.
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from cgn_art.errors import CgnArtError
from cgn_art.io import normal_file_mode
from cgn_art.runtime.progress import Cancel, JobCancelled, as_cancel, running_job, when_cancelled

__all__ = ["VideoCancelled", "VideoWriter", "check_output", "ffmpeg_exe", "sweep_partials", "to_uint8_frames",
           "write_video"]

PARTIAL_SUFFIX = ".partial.mp4"
_PARTIAL = re.compile(r"^\..*\.pid(\d+)\.[A-Za-z0-9_]+" + re.escape(PARTIAL_SUFFIX) + "$")


VideoCancelled = JobCancelled  # the name this module used to give it; one exception for cancelled work


# Files ---------------------------------------------------------------------------------------------

def check_output(path, suffix: str | None = None, what: str = "output") -> Path:
    """Check that ``path`` can be written as a file before any work is done; return it as a Path.

    Raises CgnArtError naming ``path`` when it is a folder, when its folder is a file or cannot be
    written, or when it does not end in ``suffix``. A missing folder is fine (it will be made),
    as long as the nearest existing one can be written.
    """
    path = Path(path)
    if suffix and path.suffix.lower() != suffix:
        raise CgnArtError(f"{path}: the {what} must be a {suffix[1:]} file; give a name ending in {suffix}")
    if path.is_dir():
        example = path / ("out" + (suffix or ""))
        raise CgnArtError(f"{path} is a folder: give a file name for the {what}, e.g. {example}")
    if path.exists() and not os.access(path, os.W_OK):
        raise CgnArtError(f"{path} cannot be overwritten (no write permission): choose another {what} name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CgnArtError(f"{path}: {folder} is a file, not a folder: choose another {what} path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CgnArtError(f"{path}: the folder {folder} cannot be written: choose another {what} path")
    return path


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_partials(folder) -> list[Path]:
    """Remove the partial videos in ``folder`` whose writer process is gone; returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _child_setup(nice: int = 0):
    """A preexec function: on Linux, the child gets SIGKILL when the thread that started it dies;
    ``nice`` lowers its CPU priority (an encoder started by a heavy job)."""
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            prctl = None
    if prctl is None and not nice:
        return None
    parent = os.getpid()

    # Runs in the child between fork and exec: only two plain system calls, no Python locks taken.
    def preexec() -> None:
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
        if nice:
            try:
                os.nice(nice)
            except OSError:
                pass
    return preexec


def ffmpeg_exe() -> str:
    """The ffmpeg binary that ships with imageio-ffmpeg (there is no system ffmpeg here)."""
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def to_uint8_frames(frames) -> np.ndarray:
    """Any supported frame batch -> contiguous uint8 (N, H, W, 3)."""
    if isinstance(frames, torch.Tensor):
        if frames.dim() == 3:
            frames = frames[None]
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise CgnArtError(f"video frames as a tensor must be (N, 3, H, W) or (3, H, W), got {tuple(frames.shape)}")
        # Quantise on the tensor side (one fused pass) before the layout change, which is the
        # expensive part at 512 px and is cheaper on bytes than on floats.
        frames = frames.detach().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
        return np.ascontiguousarray(frames.permute(0, 2, 3, 1).cpu().numpy())
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise CgnArtError(f"video frames as an array must be (N, H, W, 3) or (H, W, 3), got {array.shape}")
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(array)


def _even(n: int) -> int:
    return int(n) + int(n) % 2


class VideoWriter:
    """A streaming mp4 writer; see the module docstring."""

    def __init__(self, path, fps: float = 24, size: int | tuple[int, int] | None = None, *,
                 audio: str | os.PathLike | None = None, audio_start: float = 0.0,
                 audio_duration: float | None = None, preset: str = "veryfast", crf: int = 20,
                 queue_frames: int = 48, cancel: Cancel | None = None, encoder_nice: int | None = None):
        if not fps or fps <= 0:
            raise CgnArtError(f"fps {fps!r} must be a positive number")
        self.path = Path(path)
        self.fps = float(fps)
        if isinstance(size, (int, np.integer)):
            size = (int(size), int(size))
        self.size = None if size is None else (_even(size[0]), _even(size[1]))
        self.audio = None if audio is None else Path(audio)
        if self.audio is not None and not self.audio.is_file():
            raise CgnArtError(f"audio file {str(audio)!r} not found")
        self.audio_start, self.audio_duration = float(audio_start), audio_duration
        self.preset, self.crf = preset, int(crf)
        self.frames_written = 0
        self._frame_shape: tuple[int, int] | None = None
        self._process: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_frames))
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._aborted = False
        check_output(self.path, ".mp4", "video")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sweep_partials(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.pid{os.getpid()}.", suffix=PARTIAL_SUFFIX,
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._log = tempfile.TemporaryFile()
        self._stop = as_cancel(cancel)
        self._unhook = when_cancelled(self._abort)
        if encoder_nice is None:  # a heavy job's encoder runs at its queue's lower priority
            job = running_job()
            encoder_nice = getattr(getattr(job, "queue", None), "encoder_nice", 0)
        self._nice = int(encoder_nice)

    # Context manager: success closes, any exception cancels ------------------------------------

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel(raise_error=False)

    # Writing ---------------------------------------------------------------------------------

    def write(self, frames) -> None:
        """Push one frame or a batch (uint8 HxWx3 / NxHxWx3 arrays, or (N,3,H,W) tensors in [0,1])."""
        if self._closed:
            raise CgnArtError("this video is already closed")
        if self._stop():
            self.cancel(raise_error=True)
        batch = to_uint8_frames(frames)
        h, w = batch.shape[1:3]
        if self._process is None:
            self._start(w, h)
        elif (w, h) != self._frame_shape:
            first = f"{self._frame_shape[0]}x{self._frame_shape[1]}"
            raise CgnArtError(f"frame size {w}x{h} differs from the first frame's {first}")
        for frame in batch:
            self._put(frame.tobytes())
        self.frames_written += len(batch)

    def _put(self, data: bytes | None) -> None:
        while True:
            if self._aborted:
                self.cancel(raise_error=True)
            if self._error is not None:
                self._fail()
            try:
                self._queue.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def _start(self, w: int, h: int) -> None:
        self._frame_shape = (w, h)
        out_w, out_h = self.size or (_even(w), _even(h))
        cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{self.fps:g}", "-i", "-"]
        if self.audio is not None:
            if self.audio_start > 0:
                cmd += ["-ss", f"{self.audio_start:.6f}"]
            if self.audio_duration is not None:
                cmd += ["-t", f"{float(self.audio_duration):.6f}"]
            cmd += ["-i", str(self.audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "160k", "-shortest"]
        if (out_w, out_h) != (w, h):
            cmd += ["-vf", f"scale={out_w}:{out_h}:flags=bicubic"]
        cmd += ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-f", "mp4", str(self._tmp)]
        # Own process group: a terminal's Ctrl-C reaches only Python, which stops ffmpeg itself.
        # The parent-death signal kills it if this thread dies without cleaning up (SIGKILL, a crash).
        self._process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log,
                                         start_new_session=True, preexec_fn=_child_setup(self._nice))
        if self._aborted:
            self._process.kill()
        self._thread = threading.Thread(target=self._feed, name="video-writer", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        stdin = self._process.stdin
        try:
            while True:
                data = self._queue.get()
                if data is None:
                    break
                stdin.write(data)
        except BaseException as e:  # ffmpeg died (broken pipe): reported on the caller's thread
            self._error = e
            while True:  # drain so the caller never blocks on a full queue
                try:
                    if self._queue.get(timeout=0.5) is None:
                        break
                except queue.Empty:
                    if self._closed:
                        break

    def _ffmpeg_message(self) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no message"

    def _abort(self) -> None:
        """Called from another thread when the job is cancelled: stop ffmpeg now; the writing thread
        then raises JobCancelled and cleans up at its next write."""
        self._aborted = True
        process = self._process
        if process is not None and process.poll() is None:
            try:
                process.kill()
            except OSError:
                pass

    def _fail(self) -> None:
        if self._aborted:
            self.cancel(raise_error=True)
        message = self._ffmpeg_message() if self._process else str(self._error)
        self.cancel(raise_error=False)
        raise CgnArtError(f"the video encoder stopped: {message}")

    # Ending ----------------------------------------------------------------------------------

    def close(self) -> Path:
        """Finish the file (waits for ffmpeg) and return its path."""
        if self._closed:
            return self.path
        if self._process is None:
            self.cancel(raise_error=False)
            raise CgnArtError("no frames were written, so there is no video")
        self._put(None)
        self._thread.join()
        self._process.stdin.close()
        code = self._process.wait()
        self._closed = True
        if self._aborted:
            self._cleanup()
            raise JobCancelled("the render was cancelled; no video was written")
        if code != 0 or self._error is not None:
            message = self._ffmpeg_message()
            self._cleanup()
            raise CgnArtError(f"the video encoder failed: {message}")
        try:
            os.chmod(self._tmp, normal_file_mode())  # mkstemp made it 0600
            os.replace(self._tmp, self.path)
        except OSError as e:
            self._cleanup()
            raise CgnArtError(f"could not write the video to {self.path}: {e.strerror or e}") from None
        self._log.close()
        self._unhook()
        return self.path

    def cancel(self, raise_error: bool = False) -> None:
        """Stop ffmpeg and remove the partial file; with ``raise_error`` raise JobCancelled."""
        self._closed = True
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        if self._thread is not None:
            try:  # wake the feeder so it exits
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout=5)
        self._cleanup()
        if raise_error:
            raise JobCancelled("the render was cancelled; no video was written")

    def _cleanup(self) -> None:
        self._unhook()
        try:
            self._tmp.unlink()
        except FileNotFoundError:
            pass
        if not self._log.closed:
            self._log.close()


def write_video(path, frames: Iterable, fps: float = 24, size=None, **kwargs) -> Path:
    """Write an iterable of frames (or batches) to ``path``; keyword arguments as for VideoWriter."""
    with VideoWriter(path, fps=fps, size=size, **kwargs) as video:
        for batch in frames:
            video.write(batch)
    return Path(path)
