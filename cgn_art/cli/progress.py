"""The one progress bar every CLI command uses: a tqdm bar on stderr driven by the library's
``progress(fraction, message)`` callback (:data:`cgn_art.runtime.progress.Progress`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path


class ProgressBar:
    """A :data:`~cgn_art.runtime.progress.Progress` callback drawn as a bar on stderr.

    ``with ProgressBar("training letters", total=12000, unit="step") as progress: work(progress=progress)``.

    ``total`` is what a fraction of 1.0 counts to (steps for a trainer, else 1000 ticks shown as a
    percentage). A message that starts with "step a/b  " loses that part (the bar shows it).
    """

    def __init__(self, description: str, total: int = 1000, initial: int = 0, unit: str = ""):
        from tqdm import tqdm

        self.total = total
        fmt = None if unit else "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}"
        self.bar = tqdm(total=total, initial=initial, desc=description, unit=unit or "it", file=sys.stderr,
                        dynamic_ncols=True, bar_format=fmt)

    def __call__(self, fraction: float | None, message: str = "") -> None:
        if fraction is not None:  # None: a message about setup work, the bar stays where it is
            self.bar.n = min(self.total, max(0, round(fraction * self.total)))
        if message.startswith("step ") and "  " in message:
            message = message.split("  ", 1)[1]
        self.bar.set_postfix_str(message, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def train_with_bar(title: str, out: Path, steps: int, start: int, train):
    """A training command's run: ``train(progress)`` under a bar of steps ``start`` to ``steps``, then the
    line that says where the model is. Returns train's result and the wall seconds it took."""
    began = time.perf_counter()
    with ProgressBar(title, total=steps, initial=start, unit="step") as progress:
        result = train(progress)
    print(f"model: {Path(out) / 'model'}")
    return result, time.perf_counter() - began
