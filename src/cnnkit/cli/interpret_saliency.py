"""Placeholder: commands added by the interpret work in progress."""

from __future__ import annotations

import typer


def register(group: typer.Typer) -> None:
    """Add this module's `cnnkit interpret` commands to group."""
