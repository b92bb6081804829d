"""Where datasets live on disk: the user's data folder and the system-wide copies.

The data folder is ``$CNNKIT_DATA`` when set, else ``$XDG_CACHE_HOME/cnnkit/data``
(``~/.cache/cnnkit/data`` by default). Downloads and generated caches go there.
System packages (Debian/Ubuntu ``dataset-fashion-mnist``) are read in place.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SYSTEM_FASHION_MNIST", "data_root", "describe_root"]

# Debian and Ubuntu's `dataset-fashion-mnist` package installs the four .gz IDX files here.
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def data_root(root: str | Path | None = None) -> Path:
    """The folder cnnkit reads cached datasets from and downloads into (not created here)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CNNKIT_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "cnnkit" / "data"


def describe_root(root: str | Path | None = None) -> str:
    """Human wording of the data folder and how it was chosen, for error messages."""
    if root is not None:
        return str(data_root(root))
    if os.environ.get("CNNKIT_DATA"):
        return f"{data_root()} ($CNNKIT_DATA)"
    return f"{data_root()} (the user cache; set $CNNKIT_DATA to use another folder)"
