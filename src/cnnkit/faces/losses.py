"""Distances between embeddings and the two metric-learning losses.

Every distance here is the lecture's SQUARED L2 distance d(x_i, x_j) = ||f(x_i) - f(x_j)||^2
(in [0, 4] for unit embeddings), and every margin is in the same units as that distance
and as the verification threshold tau.

- Triplet loss (FaceNet): max(d(A, P) - d(A, N) + margin, 0).
- Contrastive loss (after Hadsell, Chopra and LeCun, 2006), written on d:
  same pairs pay d, different pairs pay max(margin - d, 0).
  Hadsell et al. use the Euclidean distance D with D^2 for same pairs and
  max(m - D, 0)^2 for different ones; with d = D^2 the same-pair term is identical, and
  the hinge on d puts ``margin`` in tau's units and avoids the square root, whose
  gradient is infinite at D = 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnkit.errors import ModelError, ShapeError

__all__ = [
    "REDUCTIONS",
    "contrastive_loss",
    "pairwise_sq_distances",
    "sq_distances",
    "triplet_loss",
]

REDUCTIONS = ("mean", "sum", "none")


def _check_rows(name: str, x: Tensor) -> None:
    if x.dim() != 2:
        raise ShapeError(f"{name} must be a (N, d) matrix of embeddings, got shape {tuple(x.shape)}")


def pairwise_sq_distances(a: Tensor, b: Tensor | None = None) -> Tensor:
    """Squared L2 distances between every row of ``a`` (N, d) and every row of ``b`` (M, d).

    Returns float (N, M), clamped at 0 (the expansion ||a||^2 + ||b||^2 - 2 a.b can round
    slightly below). With ``b=None`` the rows of ``a`` are compared with each other and the
    diagonal is exactly 0. Differentiable (no square root, so no NaN gradient at 0).
    """
    _check_rows("a", a)
    same = b is None
    other = a if b is None else b
    _check_rows("b", other)
    if a.shape[1] != other.shape[1]:
        raise ShapeError(
            f"cannot compare {a.shape[1]}-dimensional embeddings with {other.shape[1]}-dimensional ones; "
            "embed both sides with the same model"
        )
    sq_a = (a * a).sum(1, keepdim=True)  # (N, 1)
    sq_b = (other * other).sum(1).unsqueeze(0)  # (1, M)
    dist = (sq_a + sq_b - 2.0 * a @ other.T).clamp_min(0.0)  # (N, M)
    if same:
        dist = dist * (1.0 - torch.eye(len(a), dtype=dist.dtype, device=dist.device))
    return dist


def sq_distances(e1: Tensor, e2: Tensor) -> Tensor:
    """Row-wise squared L2 distances: (M, d), (M, d) -> (M,), d_m = ||e1[m] - e2[m]||^2."""
    _check_rows("e1", e1)
    _check_rows("e2", e2)
    if e1.shape != e2.shape:
        raise ShapeError(f"paired embeddings must have the same shape, got {tuple(e1.shape)} and {tuple(e2.shape)}")
    return (e1 - e2).pow(2).sum(1)


def _check_options(margin: float, reduction: str) -> None:
    if not margin >= 0:  # also rejects NaN
        raise ModelError(f"margin must be a non-negative number in squared-distance units, got {margin}; e.g. 0.2")
    if reduction not in REDUCTIONS:
        raise ModelError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")


def _reduce(losses: Tensor, reduction: str, anchor: Tensor) -> Tensor:
    if reduction == "none":
        return losses
    if losses.numel() == 0:
        # no triplets or pairs mined: a zero that still belongs to the graph, so a training
        # step can call backward() on it without a special case
        return anchor.sum() * 0.0
    return losses.mean() if reduction == "mean" else losses.sum()


def triplet_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    margin: float = 0.2,
    reduction: str = "mean",
) -> Tensor:
    """The lecture's triplet loss L(A, P, N) = max(||A - P||^2 - ||A - N||^2 + margin, 0).

    ``anchor``, ``positive``, ``negative``: (T, d) embeddings, row t forming triplet t.
    ``reduction``: "mean" (the mean over the T triplets; 0 when T == 0), "sum", or "none"
    (the (T,) per-triplet losses).
    """
    _check_options(margin, reduction)
    d_ap = sq_distances(anchor, positive)  # (T,)
    d_an = sq_distances(anchor, negative)  # (T,)
    losses = (d_ap - d_an + margin).clamp_min(0.0)  # (T,)
    return _reduce(losses, reduction, anchor)


def contrastive_loss(
    e1: Tensor,
    e2: Tensor,
    same: Tensor,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Contrastive loss on pairs of embeddings, written on the squared distance d:

        L = same * d + (1 - same) * max(margin - d, 0),   d = ||e1 - e2||^2

    Same-identity pairs are pulled together; different pairs are pushed apart until
    d >= margin, after which they cost nothing. ``e1``, ``e2``: (M, d); ``same``: bool
    (M,). ``margin`` 1.0 asks different unit embeddings to be at least 1 apart in squared
    distance (60 degrees). ``reduction`` as in :func:`triplet_loss`.
    """
    _check_options(margin, reduction)
    dist = sq_distances(e1, e2)  # (M,)
    if same.shape != dist.shape:
        raise ShapeError(f"same must be a ({len(dist)},) bool vector, one per pair, got shape {tuple(same.shape)}")
    y = same.to(dist.dtype)
    losses = y * dist + (1.0 - y) * (margin - dist).clamp_min(0.0)  # (M,)
    return _reduce(losses, reduction, e1)
