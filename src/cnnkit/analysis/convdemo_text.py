"""Plain-text rendering of a :class:`~cnnkit.analysis.convdemo.ConvWalkthrough`.

Grids of the padded input and filters side by side, then one block per output cell (its
total, then one line of products per channel), then the output volume; long sums wrap to
the terminal width and large volumes are elided, so it reads on an 80-100 column screen.
"""

from __future__ import annotations

from torch import Tensor

from cnnkit.analysis.convdemo import ConvCell, ConvWalkthrough

__all__ = ["ELIDE", "GRID_CAP", "render_walkthrough"]

ELIDE = 12  # grids with more rows or columns than this show only their first and last 5
GRID_CAP = 8  # at most this many channels / filters drawn as grids (--json has them all)


def _num(x: float | Tensor) -> str:
    """Integers without '.0'; other numbers with 4 significant digits."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def _keep(n: int) -> list[int | None]:
    return list(range(n)) if n <= ELIDE else [*range(5), None, *range(n - 5, n)]


def _grid(t: Tensor) -> list[str]:
    """(H, W) -> text rows with right-aligned numbers; None marks an elided row/column."""
    rows = [[("..." if r is None or c is None else _num(t[r, c])) for c in _keep(t.shape[1])] for r in _keep(t.shape[0])]
    size = max(len(v) for row in rows for v in row)
    return [" ".join(v.rjust(size) for v in row) for row in rows]


def _side_by_side(blocks: list[tuple[str, list[str]]], width: int, indent: str = "  ") -> list[str]:
    """Titled text blocks laid out left to right, in as many bands as the width needs."""
    out: list[str] = []
    band: list[tuple[str, list[str], int]] = []
    used = len(indent)

    def flush() -> None:
        if not band:
            return
        height = max(len(lines) for _, lines, _ in band)
        for r in range(-1, height):
            parts = [(title if r < 0 else (lines[r] if r < len(lines) else "")).ljust(w) for title, lines, w in band]
            out.append((indent + "    ".join(parts)).rstrip())
        band.clear()

    for title, lines in blocks:
        w = max([len(title), *(len(line) for line in lines)])
        if band and used + 4 + w > width:
            flush()
            used = len(indent)
        band.append((title, lines, w))
        used += w + 4
    flush()
    return out


def _wrap(prefix: str, pieces: list[str], sep: str, suffix: str, width: int) -> list[str]:
    """prefix + sep.join(pieces) + suffix, broken after a separator to fit the width."""
    lines, line = [], prefix
    for k, piece in enumerate(pieces):
        text = piece + (sep if k < len(pieces) - 1 else suffix)
        if len(line) + len(text) > width and line.strip() != prefix.strip():
            lines.append(line.rstrip())
            line = " " * len(prefix)
        line += text
    return [*lines, line]


def _cell_lines(walk: ConvWalkthrough, cell: ConvCell, width: int) -> list[str]:
    k_h, k_w = cell.window.shape[1:]
    bottom, right = cell.top + walk.dilation * (k_h - 1), cell.left + walk.dilation * (k_w - 1)
    head = f"out[f={cell.filter}, i={cell.row}, j={cell.col}] = "
    sums = [_num(v) for v in cell.channel_sums] + [f"bias {_num(cell.bias)}"]
    lines = _wrap(head, sums, " + ", f" = {_num(cell.total)}", width)
    every = f", step {walk.dilation}" if walk.dilation > 1 else ""
    where = f"   (padded rows {cell.top}-{bottom}, cols {cell.left}-{right}{every})"
    if len(lines[-1]) + len(where) <= width:
        lines[-1] += where
    else:
        lines.append(where.strip())
    for c in range(cell.window.shape[0]):
        terms = [f"({_num(a)}*{_num(b)})" for a, b in zip(cell.window[c].flatten(), cell.weight[c].flatten())]
        lines += _wrap(f"  ch{c}: ", terms, "+", f" = {_num(cell.channel_sums[c])}", width)
    return lines


def _fit_formulas(formulas: list[str], width: int) -> list[str]:
    """'Output size, rows: general = numbers = n', split before the numbers when too wide."""
    lines = []
    for text in formulas:
        line = f"Output size, {text}"
        if len(line) <= width:
            lines.append(line)
        else:
            general, rest = line.split(" = ", 1)
            lines += [general, f"  = {rest}"]
    return lines


def _capped(n: int, what: str) -> tuple[range, list[str]]:
    if n <= GRID_CAP:
        return range(n), []
    return range(GRID_CAP), [f"  ... {n - GRID_CAP} more {what} not drawn (--json prints every value)"]


def render_walkthrough(
    walk: ConvWalkthrough, *, cell: tuple[int, int, int] | None = None, max_cells: int = 18, width: int = 96
) -> str:
    """The walkthrough as text no wider than ``width`` (long sums wrap).

    Without ``cell``: the padded input and the filters as grids, the first ``max_cells``
    output cells worked in full (the rest counted), then the output volume per filter.
    With ``cell=(f, i, j)``: that cell's windows, weights and products per channel, then
    its sums.
    """
    c, h, w_in = walk.input.shape
    n_f, _, k_h, k_w = walk.weight.shape
    _, h_out, w_out = walk.output.shape
    lines = [
        f"Input {c}x{h}x{w_in} (channels x height x width), {n_f} filter{'s' if n_f > 1 else ''} of {c}x{k_h}x{k_w}, one bias each.",
        f"Stride {walk.stride}, zero padding {walk.padding}, dilation {walk.dilation} "
        f"-> output {n_f}x{h_out}x{w_out} (filters x height x width).",
        *_fit_formulas(walk.size_formulas(), width),
        "Each output cell = sum over channels of (window x filter), plus the filter's bias.",
        "",
    ]
    if cell is not None:
        worked = walk.cell(*cell)
        shown, note = _capped(c, "channels")
        for ch in shown:  # one band per channel: window, weights, products
            blocks = [(f"ch{ch} window", _grid(worked.window[ch])), (f"ch{ch} weights", _grid(worked.weight[ch])),
                      (f"ch{ch} products", _grid(worked.products[ch]))]
            lines += _side_by_side(blocks, width)
        lines += note + [""] + _cell_lines(walk, worked, width)
        return "\n".join(lines)

    shown, note = _capped(c, "channels")
    lines.append(f"Input, zero-padded by {walk.padding} ({walk.padded.shape[1]}x{walk.padded.shape[2]} per channel):")
    lines += _side_by_side([(f"ch{ch}", _grid(walk.padded[ch])) for ch in shown], width) + note + [""]
    filters, f_note = _capped(n_f, "filters")
    for f in filters:
        lines.append(f"Filter {f} (bias {_num(walk.bias[f])}):")
        lines += _side_by_side([(f"ch{ch}", _grid(walk.weight[f, ch])) for ch in shown], width) + note
    lines += f_note + [""]

    total = n_f * h_out * w_out
    order = [(f, i, j) for f in range(n_f) for i in range(h_out) for j in range(w_out)]
    for f, i, j in order[:max_cells]:
        lines += _cell_lines(walk, walk.cell(f, i, j), width)
    if total > max_cells:
        last = order[-1]
        lines += [
            f"... {total - max_cells} more of the {total} cells not shown (their totals are in the output below);",
            f"    see one in full with --cell F,I,J (e.g. --cell {last[0]},{last[1]},{last[2]}) "
            f"or more with --max-cells {total}",
        ]
    lines += ["", f"Output volume ({n_f}x{h_out}x{w_out}):"]
    lines += _side_by_side([(f"filter {f}", _grid(walk.output[f])) for f in filters], width) + f_note
    return "\n".join(lines)
