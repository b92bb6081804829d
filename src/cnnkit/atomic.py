"""Atomic file writes: a temporary file in the same folder, fsync, then rename.

A reader (or a resumed run after ``kill -9``) sees either the old file or the new one,
never half of one. Every file cnnkit writes into a run directory goes through here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["save_figure", "save_tensors", "write_bytes", "write_json", "write_text"]


def _atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, then move the finished file over ``path``."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:  # name the file the caller asked for, not a temporary one
        raise OSError(err.errno, err.strerror, str(target)) from None
    os.close(fd)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would,
        # so runs and pictures can be shared like any other file the user writes.
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:
            raise OSError(err.errno, err.strerror, str(target)) from None  # e.g. a folder in the way
        raise
    return target


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_tensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Save tensors as safetensors (contiguous CPU copies); metadata values must be strings."""
    from safetensors.torch import save_file

    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return _atomic(path, lambda tmp: save_file(plain, tmp, metadata=metadata))


def save_figure(path: str | Path, figure: Any, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    return _atomic(path, lambda tmp: figure.savefig(tmp, format="png", **savefig_kwargs))
