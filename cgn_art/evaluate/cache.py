"""The disk cache of trained judges: safetensors under ``judges`` in :func:`cgn_art.cache.cache_root`,
keyed by what the judge was trained on and ``RECIPE_VERSION``."""
from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from cgn_art.cache import cache_root

RECIPE_VERSION = 2  # 2: judges see 8-bit pictures (:func:`as_picture`)


def judge_cache_dir() -> Path:
    """Where trained judges are kept: $CGN_ART_CACHE/judges, else ~/.cache/cgn-art/judges."""
    return cache_root() / "judges"


def cached_net(key: str, build, net: nn.Module, cache: bool):
    """Load ``net``'s weights and facts from the judge cache, or ``build()`` -> facts and save."""
    from safetensors.torch import load_file, save_file

    path = judge_cache_dir() / f"{key}-v{RECIPE_VERSION}.safetensors"
    if cache and path.is_file():
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), "pt") as f:
                facts = json.loads((f.metadata() or {})["facts"])
            net.load_state_dict(load_file(str(path)))
            return net.eval(), facts
        except (SafetensorError, OSError, KeyError, ValueError, RuntimeError):  # damaged: train again
            facts = None
    facts = build()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp),
                  metadata={"facts": json.dumps(facts)})
        tmp.replace(path)
    return net.eval(), facts

