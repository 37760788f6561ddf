"""Where cgn-art keeps what it can make again: built data sets, song analyses, trained judges.

``$CGN_ART_CACHE`` when it is set to something, else ``~/.cache/cgn-art``. An empty variable
(``CGN_ART_CACHE=``) counts as unset, so a blank line in a shell profile does not put the cache in
the current folder. Each kind of work keeps its own folder under the root (``data``, ``audio``,
``judges``); this is the one place that reads the variable.

>>> (cache_root() / "data").name
'data'
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV", "cache_root"]

ENV = "CGN_ART_CACHE"


def cache_root() -> Path:
    """``$CGN_ART_CACHE`` (when set and not empty), else ``~/.cache/cgn-art``."""
    text = os.environ.get(ENV, "")
    return Path(text) if text else Path.home() / ".cache" / "cgn-art"
