"""The options every command spells the same way, declared once.

One convention per concept (docs/cli.md lists them):

- ``--out/-o DIR`` and ``--name/-n NAME``: where a command that *writes a run* puts it
  (both optional; default ``runs/STEM-N``); for a command that writes *a file*, ``--out/-o
  FILE``.
- ``--json``: the result as JSON on stdout, for programs; ``--quiet/-q``: no progress
  and no notes, only the result.
- ``--device``: ``auto`` (cuda, then mps, then cpu), or a device by name; ``--threads N``:
  CPU threads for the commands that train (default: every core).
- ``--seed``: the one number that makes a random result repeat.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["DEVICE", "JSON", "NAME", "QUIET", "THREADS", "run_out"]


def run_out(stem: str) -> Any:
    """``--out/-o`` for a command that writes a run; ``stem`` shows the default folder name."""
    return typer.Option(None, "--out", "-o", help=f"Run directory [default: runs/{stem}-N].")


NAME = typer.Option(None, "--name", "-n", help="Run name: the run directory is runs/NAME.")
JSON = typer.Option(False, "--json", help="Print the result as JSON (for programs).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress or notes: print only the result.")
DEVICE = typer.Option("auto", "--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
THREADS = typer.Option(None, "--threads", min=1, help="CPU threads for torch [default: every core].")
