"""Picture helpers shared by every interpretation method (matplotlib, Agg, no pyplot).

Images arrive as *pixels*: float (C, H, W) in [0, 1] with C = 1 (grey) or 3 (RGB).
Figures are ``matplotlib.figure.Figure`` objects, written atomically by :func:`write`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from cnnkit.atomic import save_figure

__all__ = [
    "DIVERGING",
    "HEAT",
    "class_label",
    "default_output",
    "figure",
    "grid_shape",
    "image_grid",
    "show_image",
    "to_numpy_image",
    "write",
]

# Signed maps (gradients, filter weights): blue negative, white zero, red positive.
DIVERGING = "RdBu_r"
# Unsigned importance (saliency magnitude, Grad-CAM): dark to bright, readable in grey print.
HEAT = "inferno"


def to_numpy_image(pixels: Tensor) -> np.ndarray:
    """Pixels (C, H, W) in [0, 1] -> (H, W) for grey or (H, W, 3) for colour, clamped."""
    array = pixels.detach().float().clamp(0, 1).cpu().numpy()
    return array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))


def figure(rows: int, cols: int, *, cell: float = 2.2, title_space: float = 0.6) -> tuple[Any, np.ndarray]:
    """A Figure with a rows x cols grid of axes (always a 2-D array), ticks off."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cols * cell, rows * cell + title_space), layout="constrained")
    axes = np.atleast_2d(np.asarray(fig.subplots(rows, cols, squeeze=False)))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def show_image(ax: Any, pixels: Tensor, *, title: str | None = None) -> Any:
    """Draw pixels (C, H, W) in [0, 1]; grey images use a grey colour map on 0..1."""
    image = to_numpy_image(pixels)
    shown = ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=9)
    return shown


def grid_shape(count: int, *, max_cols: int = 8) -> tuple[int, int]:
    """(rows, cols) for ``count`` tiles: near square, at most ``max_cols`` wide."""
    cols = min(max_cols, max(1, math.ceil(math.sqrt(count))))
    return math.ceil(count / cols), cols


def image_grid(images: Sequence[Tensor], *, titles: Sequence[str] | None = None, max_cols: int = 8,
               cell: float = 1.6, suptitle: str | None = None) -> Any:
    """A Figure of pixel images (each (C, H, W) in [0, 1]) in a grid, with optional titles
    (a ``suptitle`` of several lines gets the room it needs)."""
    rows, cols = grid_shape(len(images), max_cols=max_cols)
    fig, axes = figure(rows, cols, cell=cell, title_space=0.3 + 0.25 * (suptitle or "").count("\n"))
    for index, ax in enumerate(axes.flat):
        if index < len(images):
            show_image(ax, images[index], title=titles[index] if titles else None)
        else:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


def class_label(classes: Sequence[str], probabilities: Tensor, index: int | None = None) -> str:
    """'Sneaker 97.3%' for class ``index`` (default: the most probable) of (classes,) probs."""
    if index is None:
        index = int(probabilities.argmax())
    return f"{classes[index]} {float(probabilities[index]):.1%}"


def write(fig: Any, path: str | Path, *, dpi: int = 130) -> Path:
    """Save ``fig`` as PNG atomically (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "tight" keeps labels that a fixed-aspect image pushed past the edge (a constrained
    # layout cannot always make room beside imshow) inside the picture.
    return save_figure(path, fig, dpi=dpi, bbox_inches="tight", pad_inches=0.08)


def default_output(folder: Path | None, stem: str) -> Path:
    """Where a picture goes without -o: RUN/interpret/STEM.png for a run, else ./STEM.png."""
    name = f"{stem}.png"
    return (folder / "interpret" / name) if folder is not None else Path(name)
