"""Content | style | result side by side in one PNG, each with a title, and a caption that
says what made the result (network, weights, size, steps): ``cnnkit style --triptych``.

Pictures are float pixels (1, C, H, W) in [0, 1], as :class:`~cnnkit.style.transfer.StyleResult`
holds them. Each panel keeps its image's aspect ratio (the style picture may have another
one) and is drawn at least at its own pixel size, so a 512 px result is not shrunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from cnnkit.style.transfer import StyleResult

__all__ = ["DPI", "MIN_PANEL_INCHES", "caption", "panels_figure", "save_triptych"]

DPI = 100
MIN_PANEL_INCHES = 2.6  # below this the titles would be wider than small (32 px) pictures


def caption(result: StyleResult) -> str:
    """What made the result; random weights are always said (their results look different)."""
    weights = "ImageNet weights" if result.pretrained else "RANDOM weights (no pretrained weights)"
    size, steps = result.settings.get("size"), result.settings.get("steps")
    return f"{result.model.split(' (')[0]} with {weights}; {size} px, {steps} steps"


def panels_figure(panels: Sequence[tuple[Tensor, str]], note: str) -> Any:
    """A matplotlib Figure with one titled panel per (pixels (1, C, H, W) in [0, 1], title),
    side by side at a shared height, and ``note`` in grey beneath them."""
    from matplotlib.figure import Figure

    from cnnkit.style.images import to_uint8

    ratios = [p.shape[-1] / p.shape[-2] for p, _ in panels]  # width / height of each picture
    height = max(MIN_PANEL_INCHES, max(p.shape[-2] for p, _ in panels) / DPI)
    fig = Figure(figsize=(height * sum(ratios) + 0.25 * len(panels), height + 0.7), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": ratios})[0]
    for ax, (pixels, title) in zip(axes, panels):
        grey = pixels.shape[-3] == 1
        image = to_uint8(pixels).numpy()
        ax.imshow(image[..., 0] if grey else image, cmap="gray" if grey else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.supxlabel(note, fontsize=9, color="#444444")
    return fig


def save_triptych(result: StyleResult, path: str | Path, *, content: str = "content", style: str = "style") -> Path:
    """Write content | style | result as one PNG (atomically); ``content`` and ``style``
    are the panels' titles (e.g. the file names). Returns the path."""
    from cnnkit.interpret.plots import write

    fig = panels_figure([(result.content, content), (result.style, style), (result.pixels, "result")],
                        caption(result))  # fmt: skip
    return write(fig, path, dpi=DPI)
