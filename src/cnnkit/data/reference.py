"""Data references as a run stores them: absolute, so the run works from any directory.

A user types ``--data folder:textures``; a run that kept those words would find its data
only from the directory it was trained in. :func:`absolute_reference` turns the path of a
``folder:``, ``yolo:`` or ``coco:`` reference into an absolute one before the run is written;
named datasets (``fashion-mnist``, ``digits`` ...) are found by name and stay as they are.
When the folder has since moved, :func:`check_reference` says so and how to point at it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnkit.errors import DataError

__all__ = ["PATH_PREFIXES", "absolute_reference", "check_reference", "reference_path"]

PATH_PREFIXES = ("folder:", "yolo:", "coco:")  # references that carry a file-system path


def reference_path(reference: str) -> tuple[str, Path] | None:
    """(prefix, path) of a reference that names a place on disk, else None."""
    text = reference.strip()
    for prefix in PATH_PREFIXES:
        if text.lower().startswith(prefix) and text[len(prefix) :]:
            return prefix, Path(text[len(prefix) :]).expanduser()
    return None


def absolute_reference(reference: str) -> str:
    """``folder:textures`` -> ``folder:/home/me/work/textures`` (``~`` expanded, symlinks
    kept as the user named them); any other reference unchanged."""
    found = reference_path(reference)
    if found is None:
        return reference
    prefix, path = found
    return prefix + os.path.abspath(path)  # normalizes ".." without resolving symlinks


def check_reference(reference: str, *, run: str | Path, fix: str | None = None) -> None:
    """DataError when ``reference`` (as ``run`` stored it) names a path that is not there any
    more, saying where it was and how to point at its new place: ``fix``, or by default the
    ``--data`` option of the command (``data=`` in Python)."""
    found = reference_path(reference)
    if found is None or found[1].exists():
        return
    prefix, path = found
    how = fix or f"point at it with --data {prefix}NEW_PATH (data= in Python)"
    raise DataError(f"the data of {run} was at {path}, which is not there any more (moved or deleted?); {how}")
