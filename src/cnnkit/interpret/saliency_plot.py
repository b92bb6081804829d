"""Pictures of saliency maps: one row per image.

- one method per image: ``input | map | overlay`` (the map alone with its colour bar,
  then laid over the image in grey);
- several methods per image (``--method all``): ``input | gradient | smoothgrad | IG |
  Grad-CAM | occlusion``, each laid over the image with its own colour bar.

Unsigned maps (gradient, SmoothGrad, Grad-CAM) are shown as a share of their own maximum
(0..1, "inferno"): their raw scale depends on the model and says little. Signed maps keep
their units, centred on zero (blue lowers the target's logit, red raises it):
integrated gradients in logit contributions (they add up to f(x) - f(baseline)), occlusion
in the logit drop when a square of the baseline (black, the image's mean or a blur; the
title says which) covers the pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from cnnkit.interpret.attribution import Attribution
from cnnkit.interpret.plots import DIVERGING, HEAT, figure, show_image
from cnnkit.interpret.subject import Subject

__all__ = ["LABELS", "UNITS", "method_title", "saliency_figure", "short_name", "shown_map"]

LABELS = {
    "gradient": "gradient",
    "smoothgrad": "SmoothGrad",
    "integrated-gradients": "integrated gradients",
    "gradcam": "Grad-CAM",
    "occlusion": "occlusion",
}
UNITS = {
    "gradient": "|gradient|, share of max",
    "smoothgrad": "mean |gradient|, share of max",
    "integrated-gradients": "logit contribution",
    "gradcam": "share of max",
    "occlusion": "logit drop when covered",
}


def method_title(attribution: Attribution) -> str:
    """'Grad-CAM (stage3.conv2)', 'occlusion 4x4\nby blur sigma 3.5', 'SmoothGrad' ...

    Integrated gradients and occlusion name their baseline on a second line: the map
    means "compared with that", so a reader has to know what it was."""
    label = LABELS[attribution.method]
    if attribution.layer:
        label = f"{label} ({_short(attribution.layer)})"
    elif attribution.method == "occlusion" and "window" in attribution.details:
        size = attribution.details["window"]
        label = f"{label} {size}x{size}"
    if attribution.method == "integrated-gradients" and attribution.details.get("samples", 1) > 1:
        label = f"SmoothGrad-IG x{attribution.details['samples']}"
    if "baseline" in attribution.details:
        label += ("\nfrom " if attribution.method == "integrated-gradients" else "\nby ") + attribution.details["baseline"]
    if not bool(attribution.map.any()):
        label += ": all zero"  # say so, or an empty panel reads as a drawing bug
    return label


def shown_map(attribution: Attribution) -> Tensor:
    """The values drawn: signed maps as they are, unsigned ones divided by their maximum."""
    heat = attribution.map.float()
    if attribution.signed:
        return heat
    top = float(heat.max())
    return heat / top if top > 0 else heat


def saliency_figure(
    subject: Subject,
    images: Sequence[Tensor],
    attributions: Sequence[Sequence[Attribution]],
    *,
    refs: Sequence[str] | None = None,
    true_classes: Sequence[int | None] | None = None,
) -> Any:
    """A Figure with one row per image.

    ``images``: stored uint8 (C, H, W) each; ``attributions[i]``: that image's maps (one
    -> input | map | overlay; several -> input then one overlay per method). ``refs``
    names the images (file names, ``test:0``); ``true_classes`` adds the label when known.
    """
    single = all(len(row) == 1 for row in attributions)
    cols = 3 if single else 1 + max(len(row) for row in attributions)
    fig, axes = figure(len(images), cols, cell=2.6, title_space=0.7)
    for r, (stored, row) in enumerate(zip(images, attributions)):
        pixels = stored.detach().float().cpu() / 255  # stored uint8 -> pixels in [0, 1]
        first = row[0]
        ref = refs[r] if refs else f"image {r}"
        truth = true_classes[r] if true_classes else None
        show_image(axes[r, 0], pixels, title=_image_title(subject, first, ref, truth))
        if single:
            _draw_map(fig, axes[r, 1], first, _map_title(subject, first))
            _overlay(fig, axes[r, 2], pixels, first, "over the image")
        else:
            for c, attribution in enumerate(row, start=1):
                _overlay(fig, axes[r, c], pixels, attribution, method_title(attribution))
            for c in range(len(row) + 1, cols):
                axes[r, c].set_axis_off()
    if single:  # 'SmoothGrad-IG x16 saliency of the predicted class (from blur sigma 8)'
        method, _, baseline = method_title(attributions[0][0]).partition("\n")
        title = f"{method} saliency{_target_note(subject, attributions)}" + (f" ({baseline})" if baseline else "")
    else:
        title = f"saliency maps{_target_note(subject, attributions)}"
    fig.suptitle(f"{subject.name}: {title}", fontsize=11)
    return fig


def _image_title(subject: Subject, attribution: Attribution, ref: str, truth: int | None) -> str:
    """'test:23, true Ankle boot' over 'predicted Sandal 82.3%' (two short lines fit a cell)."""
    p = attribution.probabilities
    name = short_name(ref)
    first = name if truth is None else f"{name}, true {subject.classes[truth]}"
    return f"{first}\npredicted {subject.classes[attribution.predicted]} {float(p[attribution.predicted]):.1%}"


def short_name(ref: str, width: int = 22) -> str:
    """A title-sized image name: the file name without its folders, shortened in the
    middle when still too long, so its start and its extension both stay
    ('holiday_photo_...0412.jpg'); 'test:23' is left as it is."""
    from pathlib import PurePath

    name = PurePath(ref).name or ref
    if len(name) <= width:
        return name
    keep = width - 3
    return name[: (keep + 1) // 2] + "..." + name[len(name) - keep // 2 :]


def _map_title(subject: Subject, attribution: Attribution) -> str:
    title = method_title(attribution)
    if attribution.target != attribution.predicted:
        p = float(attribution.probabilities[attribution.target])
        title += f"\nfor {subject.classes[attribution.target]} ({p:.1%})"
    return title


def _target_note(subject: Subject, attributions: Sequence[Sequence[Attribution]]) -> str:
    """' of the predicted class', or ' of class Sneaker' when --target chose one."""
    targets = {a.target for row in attributions for a in row}
    differs = any(a.target != a.predicted for row in attributions for a in row)
    if differs and len(targets) == 1:
        return f" of class {subject.classes[targets.pop()]}"
    return " of the predicted class" if not differs else ""


def _overlay(fig: Any, ax: Any, pixels: Tensor, attribution: Attribution, title: str) -> None:
    """The image in dimmed grey with the map on top, each pixel as opaque as its value is
    strong: weak attributions leave the image visible instead of tinting all of it."""
    show_image(ax, pixels.mean(0, keepdim=True) * 0.7)
    values = shown_map(attribution).numpy()
    limit = float(np.abs(values).max()) or 1.0
    alpha = 0.9 * np.clip(np.abs(values) / limit, 0, 1) ** 0.6
    if attribution.signed:
        artist = ax.imshow(values, cmap=DIVERGING, vmin=-limit, vmax=limit, alpha=alpha, interpolation="nearest")
    else:
        artist = ax.imshow(values, cmap=HEAT, vmin=0, vmax=1, alpha=alpha, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    _colour_bar(fig, artist, ax, attribution)


def _draw_map(fig: Any, ax: Any, attribution: Attribution, title: str) -> None:
    values = shown_map(attribution).numpy()
    if attribution.signed:
        limit = float(np.abs(values).max()) or 1.0
        artist = ax.imshow(values, cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
    else:
        artist = ax.imshow(values, cmap=HEAT, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    _colour_bar(fig, artist, ax, attribution)


def _colour_bar(fig: Any, artist: Any, ax: Any, attribution: Attribution) -> None:
    bar = fig.colorbar(artist, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=7)
    bar.set_label(UNITS[attribution.method], fontsize=7)
    bar.solids.set_alpha(1.0)  # the overlay's transparency would wash out the scale


def _short(layer: str) -> str:
    """'features.stage3.conv2' -> 'stage3.conv2' (titles are narrow)."""
    parts = layer.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else layer
