"""Epoch checkpoints for ``--resume``: one safetensors file, written atomically.

``RUN/checkpoint.safetensors`` holds, as tensors:

- ``model.<name>``: the model's state dict (the plain model, not a DDP/compile wrapper)
- ``optim.<param index>.<key>``: the optimizer's per-parameter state (momentum buffers,
  Adam moments and step counts)
- ``state.<key>``: every tensor value of the trainer's ``state`` dict (the random
  generators' states as uint8 tensors)

and in its safetensors metadata, under ``cnnkit_checkpoint``, one JSON object with the
rest: the optimizer's param groups and non-tensor per-parameter values, and the
trainer's JSON-able state (epoch, step, early-stopping counters, metrics so far).

Tensors and JSON live in the same file, which is replaced in one rename, so a reader
(or a run resumed after ``kill -9``) always sees a consistent pair. Loading reads only
tensors and JSON: nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.atomic import save_tensors
from cnnkit.errors import RunError

__all__ = [
    "CHECKPOINT",
    "checkpoint_path",
    "load_checkpoint",
    "read_checkpoint_state",
    "save_checkpoint",
]

CHECKPOINT = "checkpoint.safetensors"
_META_KEY = "cnnkit_checkpoint"
_FORMAT = 1


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT


def _plain(model: nn.Module) -> nn.Module:
    from cnnkit.train.run import unwrap

    return unwrap(model)


def save_checkpoint(
    run_dir: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> Path:
    """Write model, optimizer and ``state`` to ``run_dir/checkpoint.safetensors`` atomically.

    ``state`` values must be tensors or JSON-able; tensors are stored as tensors.
    """
    tensors: dict[str, Tensor] = {}
    for name, value in _plain(model).state_dict().items():
        tensors[f"model.{name}"] = value
    optim = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in optim["state"].items():
        for key, value in per_param.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    plain_state: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, Tensor):
            tensors[f"state.{key}"] = value
        else:
            plain_state[key] = value
    meta = {
        "format": _FORMAT,
        "param_groups": optim["param_groups"],
        "optim_scalars": scalars,
        "state": plain_state,
    }
    # Clone so that tensors sharing storage (views) are saved as separate tensors.
    tensors = {k: v.detach().clone() for k, v in tensors.items()}
    return save_tensors(checkpoint_path(run_dir), tensors, metadata={_META_KEY: json.dumps(meta)})


def read_checkpoint_state(run_dir: str | Path) -> dict[str, Any] | None:
    """The trainer's JSON state in the checkpoint (epoch, step, metrics ...), read from the
    header alone: no tensors. None when there is no checkpoint; RunError when it is damaged."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    return dict(_read_meta(path)["state"])


def _read_meta(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            raw = (handle.metadata() or {}).get(_META_KEY)
        if raw is None:
            raise ValueError("no cnnkit checkpoint metadata")
        meta = json.loads(raw)
    except Exception as err:  # safetensors and json raise several types for damaged files
        raise RunError(
            f"the checkpoint {path} is damaged ({err}); delete it to restart the run from scratch"
        ) from None
    if meta.get("format") != _FORMAT:
        raise RunError(f"the checkpoint {path} is from another cnnkit version; train the run again")
    return meta


def load_checkpoint(
    run_dir: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any] | None:
    """Restore model (and optimizer) in place from the checkpoint; return the trainer state.

    Returns None when there is no checkpoint yet (a run killed before its first epoch
    ended). A damaged checkpoint or one that does not fit the model is a RunError.
    """
    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    from safetensors import safe_open

    meta = _read_meta(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as err:  # safetensors raises several types for damaged files
        raise RunError(
            f"the checkpoint {path} is damaged ({err}); delete it to restart the run from scratch"
        ) from None

    plain = _plain(model)
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        plain.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise RunError(f"the checkpoint {path} does not fit this model ({first}); it belongs to another run") from None

    if optimizer is not None:
        per_param: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                per_param.setdefault(int(index), {})[name] = value
        for index, values in meta["optim_scalars"].items():
            per_param.setdefault(int(index), {}).update(values)
        optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})

    state: dict[str, Any] = dict(meta["state"])
    for key, value in tensors.items():
        if key.startswith("state."):
            state[key[len("state.") :]] = value
    return state
