"""What the layers of a CNN see in one image: feature maps, input to output.

Which output stands for a convolution (``--layer all``): the first activation module
(ReLU and friends) that follows the convolution inside the same parent block, before the
next convolution there -- so ``CONV -> BN -> RELU`` shows the ReLU's output and
``CONV -> POOL -> BN -> RELU`` the ReLU's (pooled) output; the band's label lists every
step (``conv1 -> pool -> bn1 -> relu1``), so the pool that halved the size is not hidden. Rectified maps read best: zero
is "nothing here" and bright is "found it". A convolution with no such activation (a
ResNet block's second convolution, whose ReLU comes after the addition, or a functional
``F.relu``) shows its own, signed output. A layer named directly shows that module's output.

A module called more than once in a forward pass (ResNet's shared ``relu``) is recorded at
its first call, which is the one that belongs right after the layer before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.interpret.subject import Subject, conv_layer_names
from cnnkit.nn.capture import capture

__all__ = [
    "ACTIVATIONS",
    "FeatureLayer",
    "channel_stats",
    "conv_feature_layers",
    "feature_maps",
    "features_figure",
    "resolve_layers",
    "top_channels",
]

ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Hardswish, nn.Softplus, nn.Tanh, nn.Sigmoid,
)


@dataclass(frozen=True)
class FeatureLayer:
    """One band of the picture: ``shown`` is the module whose output is drawn; ``conv`` is
    the convolution it stands for (None when the layer was named directly); ``between``
    the modules of the same block that run between the two (a pool, a batch norm)."""

    shown: str
    conv: str | None = None
    between: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """'features.stage1.conv1 -> pool -> bn1 -> relu1' (every step after the convolution,
        so a pool that changed the size is in the label with the size) or the name."""
        if self.conv is None or self.conv == self.shown:
            return self.shown
        return " -> ".join([self.conv, *self.between, self.shown.rsplit(".", 1)[-1]])


def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def conv_feature_layers(model: nn.Module) -> list[FeatureLayer]:
    """One :class:`FeatureLayer` per ``nn.Conv2d``, input to output (see the module doc)."""
    modules = dict(model.named_modules())
    found: list[FeatureLayer] = []
    taken: set[str] = set()
    for conv in conv_layer_names(model):
        if not isinstance(modules[conv], nn.Conv2d):
            continue
        parent_name, _, attr = conv.rpartition(".")
        siblings = list(modules[parent_name].named_children())
        after = [n for n, _ in siblings].index(attr) + 1
        shown, between, passed = conv, (), []
        for child_name, child in siblings[after:]:
            if _has_conv(child):
                break  # the next convolution's territory
            if isinstance(child, ACTIVATIONS):
                candidate = f"{parent_name}.{child_name}" if parent_name else child_name
                if candidate not in taken:
                    shown, between = candidate, tuple(passed)
                break
            passed.append(child_name)
        taken.add(shown)
        found.append(FeatureLayer(shown=shown, conv=conv, between=between))
    return found


def resolve_layers(subject: Subject, layers: str | Sequence[str] = "all") -> list[FeatureLayer]:
    """'all' -> every convolution's band; a name, 'a,b' or a list of names -> those modules.

    CnnkitError for an unknown name (with suggestions) or a model without convolutions.
    """
    if isinstance(layers, str):
        names = [n.strip() for n in layers.split(",") if n.strip()]
    else:
        names = [str(n).strip() for n in layers]
    if not names:
        raise CnnkitError("--layer is empty; give a layer name (see `cnnkit interpret layers`) or 'all'")
    if names == ["all"]:
        bands = conv_feature_layers(subject.model)
        if not bands:
            raise CnnkitError(f"{subject.name} has no 2-D convolutions; name a layer with --layer")
        return bands
    return [FeatureLayer(shown=subject.layer_name(name)) for name in names]  # full names; bad ones raise


@torch.no_grad()
def feature_maps(subject: Subject, x_stored: Tensor, layers: str | Sequence[str] = "all") -> dict[str, Tensor]:
    """Run one stored image (uint8 (C, H, W) or (1, C, H, W)) through the model and return
    {module name: its output (C, h, w) as float32 on the CPU} for the layers :func:`resolve_layers`
    picks, input to output. Keys are the *shown* modules (e.g. ``features.relu1`` for
    ``features.conv1`` under 'all').

    ShapeError for a wrong image shape or dtype, or a layer whose output is not (N, C, h, w).
    """
    bands = resolve_layers(subject, layers)
    x = subject.check_stored(x_stored)
    if x.shape[0] != 1:
        raise ShapeError(f"feature maps are drawn for one image at a time, got a batch of {x.shape[0]}")
    _, first = capture(subject.model, [b.shown for b in bands], subject.to_input(x))  # first calls
    maps: dict[str, Tensor] = {}
    for band in bands:
        out = first.get(band.shown)
        if out is None:
            raise CnnkitError(f"layer {band.shown} was not reached by a forward pass (or returned no tensor); "
                              "choose another with `cnnkit interpret layers`")
        if out.dim() != 4:
            shape = "x".join(map(str, out.shape[1:]))
            raise ShapeError(f"layer {band.shown} outputs {shape}, not feature maps (C x h x w); "
                             "choose a convolution, activation or pooling layer")
        maps[band.shown] = out[0].detach().float().cpu()
    return maps


def top_channels(maps: Tensor, count: int) -> Tensor:
    """Indices of the ``count`` channels of maps (C, h, w) with the highest mean activation,
    highest first (ties keep channel order)."""
    means = maps.float().mean(dim=(1, 2))
    return torch.argsort(means, descending=True, stable=True)[: max(0, count)]


def channel_stats(maps: Tensor, count: int) -> list[dict[str, float | int]]:
    """JSON-able {channel, mean, max} of the ``count`` most active channels of maps (C, h, w)."""
    return [
        {"channel": int(c), "mean": round(float(maps[c].mean()), 6), "max": round(float(maps[c].max()), 6)}
        for c in top_channels(maps, count)
    ]


def features_figure(
    pixels: Tensor,
    maps: dict[str, Tensor],
    bands: Sequence[FeatureLayer],
    *,
    max_channels: int = 8,
    title: str = "",
    input_title: str = "input",
    cell: float = 1.35,
) -> Any:
    """The input image, then one band per layer (input to output) with its ``max_channels``
    most active maps (by mean activation), each drawn with nearest interpolation on its own
    scale: 0..its max for rectified maps (HEAT), -max|.|..max|.| for signed ones (DIVERGING).

    pixels: (C, H, W) in [0, 1]; maps: {shown name: (C, h, w)} as :func:`feature_maps` returns.
    """
    from matplotlib.figure import Figure

    from cnnkit.interpret.plots import DIVERGING, HEAT, show_image

    if max_channels < 1:
        raise CnnkitError("--max-channels must be at least 1")
    shown = [b for b in bands if b.shown in maps]
    counts = [min(max_channels, maps[b.shown].shape[0]) for b in shown]
    cols = max([1, *(min(8, n) for n in counts)])
    rows = [1] + [-(-n // cols) for n in counts]  # grid rows of each band, the input first
    fig = Figure(figsize=(cols * cell + 1.0, sum(r * (cell + 0.3) + 0.35 for r in rows) + 0.5), layout="constrained")
    subs = fig.subfigures(len(rows), 1, height_ratios=[r * (cell + 0.3) + 0.35 for r in rows], squeeze=False)[:, 0]

    axes = subs[0].subplots(1, cols, squeeze=False)[0]
    show_image(axes[0], pixels, title=None)
    subs[0].suptitle(input_title, fontsize=10, x=0.02, ha="left")
    for ax in axes[1:]:
        ax.set_axis_off()
    axes[0].set_xticks([])
    axes[0].set_yticks([])

    for sub, band, n, band_rows in zip(subs[1:], shown, counts, rows[1:]):
        data = maps[band.shown]
        channels, height, width = data.shape
        signed = bool((data < 0).any())
        scale = "each map -max|v|..max|v| (blue < 0 < red)" if signed else "each map 0..its own max"
        sub.suptitle(
            f"{band.label}  ·  {channels}x{height}x{width}  ·  "
            f"top {n} of {channels} channels by mean activation  ·  {scale}",
            fontsize=9, x=0.02, ha="left",
        )
        grid = sub.subplots(band_rows, cols, squeeze=False)
        order = top_channels(data, n)
        artist = None
        for slot, ax in enumerate(grid.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            if slot >= n:
                ax.set_axis_off()
                continue
            channel = int(order[slot])
            values = data[channel].numpy()
            top = float(abs(values).max()) or 1.0
            if signed:
                artist = ax.imshow(values / top, cmap=DIVERGING, vmin=-1, vmax=1, interpolation="nearest")
            else:
                artist = ax.imshow(values / top, cmap=HEAT, vmin=0, vmax=1, interpolation="nearest")
            peak = f"max|v| {top:.2g}" if signed else f"max {top:.2g}"
            ax.set_title(f"ch {channel}  {peak}", fontsize=7, pad=2)
        if artist is not None:
            bar = sub.colorbar(artist, ax=grid, shrink=0.8, aspect=12, pad=0.01)
            bar.set_ticks([-1, 0, 1] if signed else [0, 1], labels=["-max", "0", "max"] if signed else ["0", "max"])
            bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
