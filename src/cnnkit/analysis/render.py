"""Render a :class:`~cnnkit.analysis.summary.LayerTable`: plain text, markdown, rich table.

Counts carry thousands separators (1,234,567); totals add human units (4.09 G MACs,
97.5 MiB). Shapes are written without the batch, channels first: 64x112x112.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnkit.analysis.summary import LayerTable, PerDim

__all__ = [
    "count",
    "human",
    "mebibytes",
    "per_dim",
    "shape",
    "table_markdown",
    "table_rich",
    "table_text",
    "totals_lines",
]

_HEADERS = (
    "#", "Layer", "Kind", "Output", "Params", "MACs", "RF", "Jump", "Start", "Neurons", "Connections",
)
_RIGHT = {"#", "Params", "MACs", "RF", "Jump", "Start", "Neurons", "Connections"}


def count(n: int) -> str:
    """1234567 -> '1,234,567'."""
    return f"{n:,}"


def human(n: float, unit: str = "") -> str:
    """4089184256 -> '4.09 G' (powers of 1000)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def mebibytes(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def shape(dims: Sequence[int] | None) -> str:
    return "x".join(str(d) for d in dims) if dims else "-"


def per_dim(value: PerDim | None) -> str:
    """11 -> '11'; (7, 3.5) -> '7x3.5'; None -> '-'."""
    if value is None:
        return "-"
    values = value if isinstance(value, tuple) else (value,)
    return "x".join(f"{v:g}" for v in values)


def _cells(table: LayerTable) -> list[list[str]]:
    rows = []
    for r in table.rows:
        params = count(r.params) + (f" ({count(r.params_frozen)} frozen)" if r.params_frozen else "")
        cells = [
            str(r.index), r.name, r.kind, shape(r.output_shape), params, count(r.macs),
            per_dim(r.rf_size), per_dim(r.rf_jump), per_dim(r.rf_start),
            count(r.neurons), count(r.connections),
        ]
        rows.append(cells)
    return rows


def totals_lines(table: LayerTable) -> list[str]:
    t = table.totals
    frozen = f", {count(t.params_frozen)} frozen" if t.params_frozen else ""
    return [
        f"Input: {shape(t.input_shape)} (batch {t.batch_size} for memory figures)",
        f"Parameters: {count(t.params)} ({count(t.params_trainable)} trainable{frozen}), "
        f"{mebibytes(t.param_bytes)}",
        f"MACs per sample: {human(t.macs)} ({count(t.macs)})",
        f"Activations, forward pass: {mebibytes(t.activation_bytes)}",
    ]


def table_text(table: LayerTable) -> str:
    """Aligned plain-text columns followed by the totals (what ``print(table)`` shows)."""
    cells = _cells(table)
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h)
              for i, h in enumerate(_HEADERS)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if h in _RIGHT else v.ljust(w) for v, w, h in zip(values, widths, _HEADERS)
        ).rstrip()

    out = [table.title, line(_HEADERS), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out + [""] + totals_lines(table))


def table_markdown(table: LayerTable) -> str:
    """A GitHub-flavoured markdown table and the totals."""
    align = ["---:" if h in _RIGHT else ":---" for h in _HEADERS]
    out = ["| " + " | ".join(_HEADERS) + " |", "| " + " | ".join(align) + " |"]
    for row in _cells(table):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(out + [""] + [f"- {line}" for line in totals_lines(table)]) + "\n"


def table_rich(table: LayerTable) -> Any:
    """A rich renderable: the layer table with the totals as its caption."""
    from rich.table import Table

    view = Table(title=table.title, caption="\n".join(totals_lines(table)), caption_justify="left")
    for h in _HEADERS:
        view.add_column(h, justify="right" if h in _RIGHT else "left", no_wrap=h != "Layer")
    for row in _cells(table):
        view.add_row(*row)
    return view
