"""What a convolution layer learned: its filters (weights) drawn as pictures.

:func:`filter_weights` returns the weights of one ``nn.Conv2d`` as a tensor
(out, in / groups, kh, kw); :func:`filters_figure` draws them in one of four ways,
chosen by the shape (:func:`filter_view` says which):

- ``rgb``: the first convolution of a colour model: one RGB tile per filter, each filter
  scaled to [0, 1] around zero on its own (grey = 0), so colour and edges read directly;
- ``grid``: one input channel per filter (a grey model's first layer, a depthwise layer):
  one tile per filter on a diverging map centred on zero with one shared scale;
- ``channels``: a deeper layer: rows are output filters, columns input channels, every
  kernel a small tile on one shared diverging scale;
- ``matrix``: 1x1 kernels have no spatial pattern, so the out x in weights are one heat matrix.

Tiles are packed into a single image with blank gaps (one ``imshow`` instead of hundreds
of axes: fast, and nothing is resampled differently per tile).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cnnkit.errors import CnnkitError
from cnnkit.interpret.plots import DIVERGING
from cnnkit.interpret.subject import Subject, conv_layer_names

__all__ = [
    "MAX_INPUTS",
    "default_max_filters",
    "filter_summary",
    "filter_view",
    "filter_weights",
    "filters_figure",
    "first_conv_name",
]

MAX_INPUTS = 16  # input-channel columns drawn for a deeper layer


def first_conv_name(subject: Subject) -> str:
    """The first convolution registered in the model (where the input image goes in)."""
    convs = conv_layer_names(subject.model)
    if not convs:
        raise CnnkitError(f"{subject.name} has no convolution layers, so it has no filters to draw")
    return convs[0]


def filter_weights(subject: Subject, layer: str | None = None) -> Tensor:
    """The weights of convolution ``layer`` (default: the first one) as a detached float32
    CPU copy of shape (out_channels, in_channels / groups, kh, kw).

    CnnkitError for an unknown name or a layer that is not a 2-D convolution.
    """
    name = subject.layer_name(layer) if layer else first_conv_name(subject)
    module = subject.layer(name)
    if not isinstance(module, nn.Conv2d):
        convs = conv_layer_names(subject.model)
        shown = ", ".join(convs[:8]) + (", ..." if len(convs) > 8 else "")
        raise CnnkitError(
            f"{name} is a {type(module).__name__}, not a 2-D convolution, so it has no filters; "
            f"choose one of: {shown}"
        )
    return module.weight.detach().float().cpu().clone()


def filter_view(weights: Tensor, *, rgb_input: bool) -> str:
    """How to draw weights (out, in, kh, kw): 'rgb', 'grid', 'channels' or 'matrix' (see module doc).

    ``rgb_input``: the layer reads the RGB image itself (the first convolution of a colour model).
    """
    _, inputs, kh, kw = weights.shape
    if rgb_input and inputs == 3:
        return "rgb"
    if inputs == 1:
        return "grid"
    if kh == 1 and kw == 1:
        return "matrix"
    return "channels"


def default_max_filters(view: str) -> int:
    """Filters drawn when --max-filters is not given: whole first layers, 16 rows deeper."""
    return {"rgb": 64, "grid": 64, "channels": 16, "matrix": 64}[view]


def _mosaic(tiles: np.ndarray, *, fill: float) -> np.ndarray:
    """tiles (R, C, kh, kw[, 3]) -> one image with a 1-pixel gap of ``fill`` between tiles."""
    rows, cols, kh, kw = tiles.shape[:4]
    extra = tiles.shape[4:]
    out = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1, *extra), fill, dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            out[r * (kh + 1): r * (kh + 1) + kh, c * (kw + 1): c * (kw + 1) + kw] = tiles[r, c]
    return out


def _in_grid(tiles: np.ndarray, cols: int, *, fill: float) -> np.ndarray:
    """(N, kh, kw[, 3]) -> (R, cols, kh, kw[, 3]) row by row, padding the last row with ``fill``."""
    rows = -(-len(tiles) // cols)
    padded = np.full((rows * cols, *tiles.shape[1:]), fill, dtype=np.float32)
    padded[: len(tiles)] = tiles
    return padded.reshape(rows, cols, *tiles.shape[1:])


def filters_figure(
    weights: Tensor,
    *,
    model: str,
    layer: str,
    rgb_input: bool = False,
    max_filters: int | None = None,
    max_inputs: int = MAX_INPUTS,
) -> Any:
    """A Figure of conv weights (out, in, kh, kw), drawn as :func:`filter_view` decides.

    The title names the model, the layer and the weight shape, and says how many filters
    (and input channels) are shown when they are capped at ``max_filters`` / ``max_inputs``.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    if weights.dim() != 4:
        raise CnnkitError(f"filter weights are (out, in, kh, kw), got a tensor of {tuple(weights.shape)}")
    view = filter_view(weights, rgb_input=rgb_input)
    out_total, in_total, kh, kw = weights.shape
    limit_out = max_filters or default_max_filters(view)
    if limit_out < 1 or max_inputs < 1:
        raise CnnkitError("--max-filters must be at least 1")
    n_out = min(out_total, limit_out)
    if view in ("rgb", "grid"):
        n_in = in_total
    else:  # a 1x1 weight is one cell, so a matrix has room for more input columns
        n_in = min(in_total, max_inputs * 4 if view == "matrix" else max_inputs)
    w = weights[:n_out, :n_in].numpy()

    shown = f"first {n_out} of {out_total} filters" if n_out < out_total else f"all {out_total} filters"
    if view == "channels" or view == "matrix":
        shown += f" x {'first ' + str(n_in) + ' of ' if n_in < in_total else 'all '}{in_total} input channels"
    shape = "x".join(map(str, weights.shape))
    title = f"{model} · {layer} · weight {shape} (out x in x kh x kw)\n{shown}"

    limit = float(np.abs(w).max()) or 1.0  # one shared, symmetric scale: white = 0
    cols = _columns(n_out)
    if view == "rgb":
        # each filter on its own scale around zero: w / (2 max|w|) + 0.5, so grey = 0
        per = np.abs(w).reshape(n_out, -1).max(axis=1).clip(min=1e-12)[:, None, None, None]
        tiles = np.transpose(w / (2 * per) + 0.5, (0, 2, 3, 1))  # (out, kh, kw, 3)
        image = _mosaic(_in_grid(tiles, cols, fill=1.0), fill=1.0)
        title += "\neach filter scaled to its own largest |weight|: grey = 0"
    elif view == "grid":
        image = _mosaic(_in_grid(w[:, 0], cols, fill=np.nan), fill=np.nan)
        title += "\none shared scale: white = 0"
    elif view == "matrix":
        image = w[:, :, 0, 0]
        title += "\n1x1 kernels: one weight per (output filter, input channel)"
    else:
        image = _mosaic(w, fill=np.nan)  # (out, in, kh, kw) is already rows x columns

    height, width = image.shape[:2]
    scale = float(np.clip(7.5 / max(width, height * 0.8), 0.06, 0.45))  # inches per weight
    bar = view != "rgb"
    # room for tick labels (0.7 in) and the colour bar (1.4 in) beside the weights
    fig = Figure(figsize=(max(5.5, width * scale + (2.1 if bar else 1.0)), height * scale + 1.0),
                 layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    if view == "rgb":
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    else:
        cmap = colormaps[DIVERGING].with_extremes(bad="#d9d9d9")  # gaps between tiles in light grey
        artist = ax.imshow(image, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
        fig.colorbar(artist, ax=ax, shrink=0.8, label="weight (0 = white)")
    _label_axes(ax, view, n_out, n_in, kh, kw, cols)
    fig.suptitle(title, fontsize=10)
    return fig


def _columns(count: int) -> int:
    """Tiles per row for a grid of ``count`` filters: near square, at most 8, fewest blanks."""
    low = min(8, max(1, int(np.ceil(np.sqrt(count)))))
    return min(range(low, max(low, 8) + 1), key=lambda c: (-count % c, c))


def _label_axes(ax: Any, view: str, n_out: int, n_in: int, kh: int, kw: int, cols: int) -> None:
    """Ticks that name filters and input channels (every one up to 16, else every few)."""
    def ticks(count: int, size: int, step_cells: int) -> tuple[list[float], list[str]]:
        step = max(1, -(-count // 16))
        idx = list(range(0, count, step))
        return [i * (size + step_cells) + (size - 1) / 2 for i in idx], [str(i) for i in idx]

    if view == "matrix":
        ax.set_xticks(*ticks(n_in, 1, 0))
        ax.set_yticks(*ticks(n_out, 1, 0))
        ax.set_xlabel("input channel")
        ax.set_ylabel("output filter")
    elif view == "channels":
        ax.set_xticks(*ticks(n_in, kw, 1))
        ax.set_yticks(*ticks(n_out, kh, 1))
        ax.set_xlabel("input channel")
        ax.set_ylabel("output filter")
    else:
        rows = -(-n_out // cols)  # label each row with the filters in it, e.g. "6-11"
        labels = [f"{r * cols}-{min(n_out, (r + 1) * cols) - 1}" for r in range(rows)]
        ax.set_xticks([])
        ax.set_yticks([r * (kh + 1) + (kh - 1) / 2 for r in range(rows)], labels)
        ax.set_ylabel("filters (row by row)")
    ax.tick_params(length=0, labelsize=7)
    for side in ax.spines.values():
        side.set_visible(False)


def filter_summary(weights: Tensor) -> dict[str, Any]:
    """JSON-able numbers for weights (out, in, kh, kw): shape, range and each filter's L2 norm."""
    flat = weights.reshape(weights.shape[0], -1)
    return {
        "shape": list(weights.shape),
        "min": float(weights.min()),
        "max": float(weights.max()),
        "mean_abs": float(weights.abs().mean()),
        "filter_norms": [round(float(v), 6) for v in torch.linalg.vector_norm(flat, dim=1)],
    }
