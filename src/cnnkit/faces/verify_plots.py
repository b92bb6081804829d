"""Pictures of a verifier: the ROC curve and the distance histograms of same/different pairs.

Both return a matplotlib Figure (no pyplot state); save with ``cnnkit.atomic.save_figure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from cnnkit.errors import CnnkitError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DIFFERENT_COLOR", "SAME_COLOR", "distance_histogram_figure", "roc_figure"]

SAME_COLOR = "tab:blue"
DIFFERENT_COLOR = "tab:orange"


def roc_figure(metrics: Mapping[str, Any], *, title: str = "Verification ROC") -> Figure:
    """Draw ``verification_metrics(...)``: TAR against FAR on a log FAR axis (so that the
    low-FAR end, where a verifier is used, is visible), the EER point, the TAR at each
    target FAR, and the operating point of ``metrics["tau"]`` when it is set; AUC in the
    legend. FAR = 0 cannot sit on a log axis: it is drawn at half the smallest nonzero FAR
    (1 / (2 * different pairs)), the left edge of the plot."""
    from matplotlib.figure import Figure

    if not isinstance(metrics, Mapping) or "roc" not in metrics or "different_pairs" not in metrics:
        raise CnnkitError("roc_figure needs the dict that cnnkit.faces.verify.verification_metrics returns")
    floor = 0.5 / max(int(metrics["different_pairs"]), 1)
    far = np.maximum(np.asarray(metrics["roc"]["far"], dtype=float), floor)
    tar = np.asarray(metrics["roc"]["tar"], dtype=float)

    figure = Figure(figsize=(6, 4.6), layout="constrained")
    axes = figure.add_subplot()
    chance = np.geomspace(floor, 1.0, 200)  # TAR = FAR is a curve on a log FAR axis
    axes.plot(chance, chance, "--", color="0.6", linewidth=1, label="chance (TAR = FAR)")
    axes.plot(far, tar, color=SAME_COLOR, linewidth=1.8, label=f"ROC (AUC {metrics['auc']:.3f})")
    eer = metrics.get("eer")
    if eer is not None:
        eer_tau = metrics.get("eer_tau")
        at = f", tau {eer_tau:.3g}" if eer_tau is not None else ""
        axes.plot(max(eer, floor), 1 - eer, "o", color="tab:red", markersize=7, label=f"EER {eer:.3f}{at}")
    for row in metrics.get("tar_at_far", []):
        if row.get("tar") is not None:
            axes.plot(row["far"], row["tar"], "v", color="0.25", markersize=6,
                      label=f"TAR {row['tar']:.3f} at FAR {row['far']:g}")
    if metrics.get("tau") is not None and metrics.get("far_at_tau") is not None:
        axes.plot(max(metrics["far_at_tau"], floor), metrics["tar_at_tau"], "*", color="tab:green", markersize=13,
                  label=f"tau {metrics['tau']:.3g}: FAR {metrics['far_at_tau']:.3g}, TAR {metrics['tar_at_tau']:.3f}")
    axes.set_xscale("log")
    # A little room left of the floor, so that the FAR = 0 part of the curve is not hidden
    # under the axis spine. The floor is named in the axis label, where no curve or marker
    # can cover it.
    axes.set(xlim=(floor / 1.6, 1.0), ylim=(0, 1.02),
             xlabel=f"FAR: accepted different pairs / different pairs\n(log scale; FAR = 0 is drawn at {floor:.2g})",
             ylabel="TAR: accepted same pairs / same pairs")
    axes.set_title(f"{title}: {metrics['same_pairs']} same, {metrics['different_pairs']} different pairs",
                   fontsize="medium")
    axes.grid(alpha=0.3, which="both")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def distance_histogram_figure(
    distances: Tensor | np.ndarray, same: Tensor | np.ndarray, tau: float | None = None, *, bins: int = 40,
    title: str = "Pair distances",
) -> Figure:
    """Histograms of the squared L2 distances (M,) of same pairs and of different pairs
    (``same`` bool (M,)) on shared bins, each scaled to its own share of pairs so that
    unequal pair counts compare; a vertical line at ``tau`` (pairs left of it are accepted)."""
    from matplotlib.figure import Figure

    from cnnkit.faces.verify import pair_arrays

    d, y = pair_arrays(distances, same)
    edges = np.histogram_bin_edges(d, bins=bins)
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for mask, color, name in ((y, SAME_COLOR, "same identity"), (~y, DIFFERENT_COLOR, "different identities")):
        values = d[mask]
        weights = np.full(values.size, 1.0 / values.size)
        axes.hist(values, bins=edges, weights=weights, color=color, alpha=0.45, label=f"{name} ({values.size} pairs)")
        axes.hist(values, bins=edges, weights=weights, color=color, histtype="step", linewidth=1.5)
    if tau is not None:
        accepted = d <= tau
        axes.axvline(tau, color="black", linestyle="--", linewidth=1.3,
                     label=f"tau {tau:.3g}: accepts {accepted[y].mean():.1%} of same, "
                           f"{accepted[~y].mean():.1%} of different")
    axes.set(xlabel="squared L2 distance d = ||f(a) - f(b)||²", ylabel="share of the pairs of that kind")
    axes.set_title(f"{title}: {int(y.sum())} same, {int((~y).sum())} different pairs", fontsize="medium")
    axes.grid(alpha=0.3, axis="y")
    axes.set_ylim(0, axes.get_ylim()[1] * 1.3)  # headroom so that the legend covers no bar
    axes.legend(loc="upper right", fontsize="small")
    return figure
