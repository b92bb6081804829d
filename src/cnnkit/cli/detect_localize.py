"""Placeholder: commands added by the detection work in progress."""

from __future__ import annotations

import typer


def register(group: typer.Typer) -> None:
    """Add this module's `cnnkit detect` commands to group."""
