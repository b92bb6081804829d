"""``cnnkit explain-conv``: one convolution worked by hand, cell by cell.

Thin: parse the options (and a --values JSON file), call
:func:`cnnkit.analysis.convdemo.explain_conv`, print the text or the JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.errors import CnnkitError, DataError, did_you_mean

__all__ = ["VALUE_KEYS", "load_values", "register"]

VALUE_KEYS = {
    # key -> (nesting depth, axis names); "bias" may be left out (zeros)
    "input": (3, ("channels", "rows", "columns")),
    "weight": (4, ("filters", "channels", "kernel rows", "kernel columns")),
    "bias": (1, ("filters",)),
}


def _check_array(value: Any, depth: int, where: str, file: str, axes: tuple[str, ...]) -> None:
    """Raise DataError unless ``value`` is a rectangular nested list of ``depth`` levels of numbers."""
    shape_hint = f"{depth} levels of lists ({' x '.join(axes)})"
    if depth == 0:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"--values {file}: {where} is {json.dumps(value)}, not a number; use plain numbers")
        if not math.isfinite(value):
            raise DataError(f"--values {file}: {where} is {value}; use finite numbers")
        return
    if not isinstance(value, list):
        raise DataError(
            f"--values {file}: {where} is {json.dumps(value)[:40]} where a list was expected; "
            f"{where.split('[')[0]!r} must be {shape_hint}"
        )
    if not value:
        raise DataError(f"--values {file}: {where} is an empty list; every size must be at least 1")
    for k, item in enumerate(value):
        _check_array(item, depth - 1, f"{where}[{k}]", file, axes)
    if depth > 1:
        lengths = {len(item) for item in value}
        if len(lengths) > 1:
            raise DataError(
                f"--values {file}: the lists inside {where} have different lengths {sorted(lengths)}; "
                f"{where.split('[')[0]!r} must be rectangular ({' x '.join(axes)})"
            )


def load_values(path: str | Path) -> dict[str, Any]:
    """Read a --values JSON file: {"input": C x H x W, "weight": F x C x k x k, "bias": F}.

    Returns the nested lists (bias may be missing). Raises DataError naming the file and
    what is wrong: unreadable, not JSON, unknown or missing keys, bad nesting, non-numbers.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"--values file {file!r} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"--values file {file!r} cannot be read ({err}); give a UTF-8 JSON file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"--values {file} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            'write e.g. {"input": [[[1, 0], [2, 1]]], "weight": [[[[1]]]], "bias": [0]}'
        ) from None
    if not isinstance(data, dict):
        raise DataError(f'--values {file} must hold a JSON object with keys "input", "weight" and optionally "bias"')
    for key in data:
        if key not in VALUE_KEYS:
            raise DataError(
                f"--values {file}: unknown key {key!r}{did_you_mean(key, VALUE_KEYS)}; "
                'the keys are "input", "weight" and "bias"'
            )
    for key in ("input", "weight"):
        if key not in data:
            raise DataError(f"--values {file}: the key {key!r} is missing; give \"input\" (C x H x W) and \"weight\" (F x C x k x k)")
    for key, value in data.items():
        depth, axes = VALUE_KEYS[key]
        _check_array(value, depth, key, file, axes)
    return data


def _parse_cell(text: str) -> tuple[int, int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        f, i, j = (int(p) for p in parts)
    except ValueError:
        raise CnnkitError(
            f"--cell {text!r} must be three whole numbers F,I,J (filter, output row, output column), e.g. --cell 0,1,2"
        ) from None
    return f, i, j


def register(app: typer.Typer) -> None:
    @app.command("explain-conv")
    def explain_conv_command(
        input_size: Optional[int] = typer.Option(None, "--input-size", min=1, help="Input height and width [default: 5]."),
        channels: Optional[int] = typer.Option(None, "--channels", min=1, help="Input channels [default: 3]."),
        filters: Optional[int] = typer.Option(None, "--filters", min=1, help="Number of filters [default: 2]."),
        kernel: Optional[int] = typer.Option(None, "--kernel", min=1, help="Filter height and width [default: 3]."),
        stride: Optional[int] = typer.Option(
            None, "--stride", min=1, help="Step between windows [default: 2 for the example, 1 with --values]."
        ),
        padding: Optional[int] = typer.Option(
            None, "--padding", min=0, help="Zeros added on every side [default: 1 for the example, 0 with --values]."
        ),
        dilation: int = typer.Option(1, "--dilation", min=1, help="Spacing between filter taps."),
        seed: int = typer.Option(0, "--seed", help="Seed for the generated example values."),
        values: Optional[Path] = typer.Option(
            None, "--values", help='JSON file with "input" (C x H x W), "weight" (F x C x k x k), "bias" (F).'
        ),
        cell: Optional[str] = typer.Option(None, "--cell", help="Show only output cell F,I,J in full, e.g. 0,1,2."),
        max_cells: int = typer.Option(18, "--max-cells", min=0, help="Cells worked in full before summarising."),
        width: int = typer.Option(96, "--width", min=40, help="Maximum line width of the text output."),
        as_json: bool = typer.Option(False, "--json", help="Print the numbers as JSON."),
    ) -> None:
        """Work one convolution through by hand: products, sums and bias of every output cell.

        By default: a 5x5x3 input (values 0..2), two 3x3x3 filters (weights -1..1),
        biases 1 and 0, padding 1, stride 2 -- a 2x3x3 output. Your own numbers
        (--values) get torch's Conv2d defaults instead: stride 1, padding 0. The output
        size follows floor((n + 2p - f) / s) + 1 per side.

        \b
        Examples:
          cnnkit explain-conv
          cnnkit explain-conv --cell 1,2,0
          cnnkit explain-conv --input-size 7 --kernel 3 --stride 1 --padding 0 --seed 4
          cnnkit explain-conv --values my_conv.json --padding 1
          cnnkit explain-conv --json > conv.json

        \b
        A --values file (bias optional, zeros when left out):
          {"input": [[[1, 0, 2], [0, 1, 1], [2, 2, 0]]],
           "weight": [[[[1, 0], [0, -1]]]],
           "bias": [1]}
        """
        from cnnkit.analysis.convdemo import explain_conv
        from cnnkit.analysis.convdemo_text import render_walkthrough
        from cnnkit.cli.common import print_json
        from cnnkit.errors import ShapeError

        chosen = _parse_cell(cell) if cell is not None else None
        data = load_values(values) if values is not None else {}
        try:
            walk = explain_conv(
                data.get("input"), data.get("weight"), data.get("bias"),
                stride=stride, padding=padding, dilation=dilation, seed=seed,
                input_size=input_size, channels=channels, filters=filters, kernel=kernel,
            )
        except ShapeError as err:
            if values is None:
                raise
            raise DataError(f"--values {values}: {err}") from None
        if chosen is not None:
            walk.cell(*chosen)  # validates the index before anything is printed
        if as_json:
            n_f, h_out, w_out = walk.output.shape
            order = [(f, i, j) for f in range(n_f) for i in range(h_out) for j in range(w_out)]
            print_json(walk.to_dict([chosen] if chosen is not None else order[:max_cells]))
            return
        typer.echo(render_walkthrough(walk, cell=chosen, max_cells=max_cells, width=width))
