"""Checkpoints every trainer shares: modules and optimiser state in one safetensors file, the
step, settings and history in JSON beside it, and the rules for resuming a run from the CLI.

Tensor keys are ``<module>.<parameter>`` and ``<optimiser>.<index>.<state>`` (e.g.
``opt_g.0.exp_avg``); nothing is pickled, so a checkpoint from anywhere is safe to open.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cgn_art.errors import CgnArtError
from cgn_art.io import normal_file_mode

META = "checkpoint.json"

Model = TypeVar("Model")


@dataclass
class TrainResult(Generic[Model]):
    """What every trainer returns: the model it trained, the step it reached, its history, its seconds."""

    model: Model
    step: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def write_due(out: Path | None, step: int, settings, sample_sheet, save) -> None:
    """Every trainer's outputs at ``step``: ``sample_sheet()`` (a PIL image) as samples-<step>.png every
    ``settings.sample_every`` steps and ``save(out)`` every ``settings.checkpoint_every``, both at the
    last step too; nothing without ``out``."""
    if not out:
        return
    last = step == settings.steps
    if step % settings.sample_every == 0 or last:
        sample_sheet().save(out / f"samples-{step:06d}.png")
    if step % settings.checkpoint_every == 0 or last:
        save(out)


def optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """An optimiser's per-parameter state as flat tensors keyed ``name.index.state``."""
    tensors = {}
    for i, state in optimizer.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"{name}.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    return tensors


def restore_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                      device, param_groups: list | None = None) -> None:
    """Put back what :func:`optimizer_tensors` saved (``step`` counters stay on the CPU, as torch keeps them)."""
    state = optimizer.state_dict()
    restored: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith(name + "."):
            i, k = key[len(name) + 1:].split(".", 1)
            restored.setdefault(int(i), {})[k] = value if k == "step" else value.to(device)
    state["state"] = restored
    if param_groups is not None:
        state["param_groups"] = param_groups
    optimizer.load_state_dict(state)


def save_checkpoint(folder: str | Path, meta: dict, modules: dict[str, torch.nn.Module] | None = None,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    tensors_file: str = "checkpoint.safetensors") -> None:
    """Write ``modules`` and ``optimizers`` to ``tensors_file`` and ``meta`` (plus each optimiser's
    param groups) to checkpoint.json. The JSON goes last: a run killed mid-save keeps its previous
    checkpoint readable as a whole or not at all."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (modules or {}).items():
        tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    groups = {}
    for name, optimizer in (optimizers or {}).items():
        tensors.update(optimizer_tensors(name, optimizer))
        groups[name] = optimizer.state_dict()["param_groups"]
    tmp = folder / (tensors_file + ".tmp")
    save_file(tensors, str(tmp))
    os.chmod(tmp, normal_file_mode())  # save_file makes it 0600
    tmp.replace(folder / tensors_file)
    (folder / (META + ".tmp")).write_text(json.dumps({**meta, "param_groups": groups}, default=str))
    (folder / (META + ".tmp")).replace(folder / META)


def read_meta(folder: str | Path) -> dict:
    """checkpoint.json of a run folder, with a readable error when it is missing or damaged."""
    folder = Path(folder)
    path = folder / META
    try:
        meta = json.loads(path.read_text())
        int(meta["step"]), dict(meta["settings"])
        return meta
    except FileNotFoundError:
        raise CgnArtError(f"{folder}: no checkpoint to resume from; run without --resume first") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CgnArtError(f"{path}: not a readable cgn-art checkpoint ({e})") from None


def load_checkpoint(folder: str | Path, device, modules: dict[str, torch.nn.Module] | None = None,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    tensors_file: str = "checkpoint.safetensors") -> dict:
    """Restore what :func:`save_checkpoint` wrote into the given modules and optimisers; return the meta."""
    folder = Path(folder)
    meta = read_meta(folder)
    path = folder / tensors_file
    try:
        tensors = load_file(str(path))
    except (FileNotFoundError, SafetensorError, OSError) as e:
        raise CgnArtError(f"{path}: missing or not a readable safetensors file ({e})") from None
    # A part the checkpoint has no tensors for at all (a module a later version of the recipe added,
    # such as the decomposed recipe's mask critic) starts fresh; it is listed in meta["fresh_parts"].
    fresh = []
    for prefix, module in (modules or {}).items():
        own = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        if own or not module.state_dict():
            module.load_state_dict(own)
        else:
            fresh.append(prefix)
    groups = meta.get("param_groups") or {}
    for name, optimizer in (optimizers or {}).items():
        if groups and name not in groups:  # an optimiser the checkpoint never saved
            fresh.append(name)
            continue
        restore_optimizer(name, optimizer, tensors, device, groups.get(name))
    meta["fresh_parts"] = fresh
    return meta


def run_settings(folder: str | Path, given: dict, resume: bool, overwrite: bool,
                 fixed_on_resume: tuple[str, ...] = ()) -> tuple[dict, int]:
    """The settings a CLI run starts from and the step it starts at.

    A new run takes ``given`` (the flags the user set) and refuses a folder that already holds a
    checkpoint unless ``overwrite``; a resumed run takes the checkpoint's settings overridden by
    ``given``, except the ``fixed_on_resume`` ones the weights or data depend on.
    """
    folder = Path(folder)
    if not resume:
        if (folder / META).exists() and not overwrite:
            raise CgnArtError(f"{folder} already holds a checkpoint; pass --resume to continue it, "
                              "--overwrite to start again, or choose another folder")
        return dict(given), 0
    meta = read_meta(folder)
    base = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["settings"].items()}
    for name in fixed_on_resume:
        if name in given and name in base and given[name] != base[name]:
            raise CgnArtError(f"--{name.replace('_', '-')} {given[name]} differs from the checkpoint's "
                              f"{base[name]}; a resumed run keeps it (train into a new folder instead)")
    return {**base, **given}, int(meta["step"])
