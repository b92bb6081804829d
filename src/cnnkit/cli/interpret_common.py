"""What every `cnnkit interpret` command shares: the options and how results are printed.

A command opens its subject with :func:`open_from_cli`, makes its picture, and ends with
:func:`finish`: one line naming the PNG (and a few numbers) on stdout, or JSON with --json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

__all__ = [
    "DEVICE",
    "JSON",
    "OUT",
    "SEED",
    "SOURCE",
    "SOURCE_HELP",
    "WEIGHTS",
    "finish",
    "image_stem",
    "open_from_cli",
    "output_path",
]

SOURCE_HELP = "A run directory (runs/NAME), or a zoo name with --weights."
SOURCE = typer.Argument(..., help=SOURCE_HELP, show_default=False)
WEIGHTS = typer.Option(
    None, "--weights", help="For a zoo name: torchvision weights (IMAGENET1K_V1, DEFAULT) or a weights file."
)
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or mps.")


def _png_out(value: Path | None) -> Path | None:
    """-o/--out's check, run while the options are parsed, so before any work: a .png
    file name, not a folder (CnnkitError otherwise)."""
    if value is None:
        return None
    from cnnkit.data.images import check_png_path

    return check_png_path(value, "-o/--out")


OUT = typer.Option(
    None, "--out", "-o", callback=_png_out,
    help="PNG file to write, ending in .png (default: RUN/interpret/<method>-<image>.png).",
)
JSON = typer.Option(False, "--json", help="Print the numbers as JSON instead of text.")
SEED = typer.Option(0, "--seed", help="Seed for every random choice (same seed, same picture).")


def open_from_cli(source: str, weights: Optional[str], device: str) -> Any:
    """Open the subject on the chosen device (CnnkitError for a bad source or device)."""
    from cnnkit.interpret.subject import open_subject
    from cnnkit.train.device import choose_device

    return open_subject(source, weights=weights, device=choose_device(device))


def output_path(out: Optional[Path], subject: Any, stem: str) -> Path:
    """--out when given, else RUN/interpret/STEM.png (./STEM.png for a zoo model)."""
    from cnnkit.interpret.plots import default_output

    return out if out is not None else default_output(subject.path, stem)


def image_stem(path: Path | str) -> str:
    """A file-name-safe stem of an input image, for default output names."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).stem).strip("-") or "image"


def finish(written: Path | list[Path], summary: str, data: dict[str, Any], as_json: bool) -> None:
    """Print where the picture(s) went and a one-line summary, or everything as JSON."""
    from cnnkit.cli.common import print_json

    paths = written if isinstance(written, list) else [written]
    if as_json:
        print_json({**data, "pictures": [str(p) for p in paths]})
        return
    if summary:
        print(summary)
    for path in paths:
        print(f"wrote {path}")
