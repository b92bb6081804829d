"""Helpers every CLI command shares: shape parsing, output formats, the console."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from cnnkit.errors import CnnkitError

__all__ = [
    "RESUME_KEEPS",
    "Interrupted",
    "OutputFormat",
    "check_nothing_else_on_resume",
    "console",
    "interrupted_line",
    "parse_shape",
    "plain_output",
    "print_json",
    "quiet_line",
    "result_lines",
    "run_directory",
]

console = Console(highlight=False, soft_wrap=True)


class Interrupted(BaseException):
    """Ctrl-C during a command, with the line to print (main() exits 130).

    A BaseException like KeyboardInterrupt, so no ``except Exception`` on the way swallows it,
    and not a KeyboardInterrupt, so typer passes it through instead of exiting silently."""


def interrupted_line(run_dir: Path, command: str) -> str:
    """What to print when a run in ``run_dir`` was stopped: how to continue it, if it can be
    (a checkpoint exists after the first finished epoch). ``command`` is e.g. 'cnnkit train'."""
    from cnnkit.train.checkpoint import checkpoint_path

    if checkpoint_path(run_dir).is_file():
        return f"interrupted; continue with: {command} --resume {shlex.quote(str(run_dir))}"
    return f"interrupted before the first epoch finished; nothing was saved in {run_dir} to resume: run the same command again to start over"


class OutputFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


def plain_output() -> bool:
    """True when writing to a file, a pipe or CI: no colours, no live progress bars."""
    return not sys.stdout.isatty() or bool(os.environ.get("CI"))


def parse_shape(text: str, *, what: str = "--input") -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224). Also accepts ',' or ' ' between sizes."""
    cleaned = text.lower().replace(",", "x").replace(" ", "x").replace("*", "x")
    parts = [p for p in cleaned.split("x") if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise CnnkitError(
            f"{what} {text!r} is not a shape; write sizes joined by 'x' without the batch, "
            "e.g. 3x224x224 (images), 1x40 (signals) or 1x16x32x32 (volumes)"
        )
    from cnnkit.nn.spec.shapes import channels_last_hint  # the grammar's INPUT(...) rule

    hint = channels_last_hint(sizes)  # 32x32x3: the HxWxC of image files and Keras
    if hint:
        raise CnnkitError(f"{what} {text!r}: {hint}")
    return sizes


RESUME_KEEPS = ("resume", "quiet", "as_json", "threads")  # what may go with --resume: output and CPU threads


def check_nothing_else_on_resume(
    ctx: typer.Context, command: str, *, allowed: tuple[str, ...] = RESUME_KEEPS
) -> None:
    """CnnkitError naming every argument and option typed beside --resume (a resumed run
    keeps the settings it started with; silently ignoring them would mislead).

    ``allowed`` are parameter names (the command function's argument names)."""
    typed = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)  # type: ignore[arg-type]
        if param.name in allowed or source is None or source.name == "DEFAULT":
            continue
        is_option = bool(param.opts) and param.opts[0].startswith("-")
        typed.append(param.opts[0] if is_option else (param.metavar or str(param.name)).strip("[]"))
    if typed:
        raise CnnkitError(
            f"--resume continues a run with the settings it started with; drop {', '.join(typed)} "
            f"(to train differently, start a new run: {command} ... --out NEW)"
        )


def print_json(data: Any) -> None:
    """Print JSON to stdout (for programs: no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def run_directory(out: Path | None, name: str | None, *, stem: str, root: Path = Path("runs")) -> Path:
    """Where a command writes its run: --out PATH, else --name NAME (root/NAME), else
    root/STEM-N with the first N not taken yet. STEM is cleaned to a safe file name."""
    if out is not None and name is not None:
        raise CnnkitError("give either --out PATH or --name NAME (which means runs/NAME), not both")
    if out is not None:
        return out
    if name:
        if "/" in name or "\\" in name or name in (".", ".."):
            raise CnnkitError(
                f"--name {name!r} must be a plain name (it means runs/NAME); to write elsewhere give the path with --out"
            )
        return root / name
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-").lower() or "run"
    number = 1
    while (root / f"{clean}-{number}").exists():
        number += 1
    return root / f"{clean}-{number}"


def quiet_line(result: Any) -> str:
    """What `cnnkit train -q` and `cnnkit finetune -q` print: the run and its test accuracy."""
    accuracy = result.test_accuracy
    figure = f"test accuracy {accuracy:.2%}" if accuracy is not None else "no test split"
    warning = getattr(result, "warning", None)
    return f"{result.run_dir}: {figure}" + (f"; {warning}" if warning else "")


def result_lines(result: Any) -> list[str]:
    """What `cnnkit train` and `cnnkit finetune` print after a run (a TrainResult):
    test accuracy (and with flip TTA), time and device, and where the report is."""
    lines = []
    if result.test is not None:
        lines.append(f"test accuracy: {result.test.accuracy:.2%} ({result.test.num_samples} samples)")
    if result.test_tta is not None:
        lines.append(f"test accuracy with flip TTA: {result.test_tta.accuracy:.2%}")
    lines.append(f"time: {result.seconds:.1f} s on {result.device}")
    if result.run_dir is not None:
        lines.append(f"report: {result.run_dir / 'report.md'}")
    if getattr(result, "warning", None):
        lines.append(result.warning)  # last, where it is read: below chance, and the likely cause
    return lines
