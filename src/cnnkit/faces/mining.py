"""Triplet selection inside a batch: which (anchor, positive, negative) to train on.

Random triplets are mostly easy (the negative is already far), so they teach little; the
lecture asks for triplets that are hard. Given a batch's embeddings (B, d) and identity
labels (B,), :func:`mine` returns index triplets ``(anchor, positive, negative)``, int64
(T,) each, into the batch, for one of these strategies (d = squared L2 distance):

- ``random``: every (anchor, positive) pair of the batch, each with a negative drawn
  uniformly at random (with ``generator``).
- ``batch_all``: every valid triplet whose loss is positive, d(a,p) - d(a,n) + margin > 0
  (Hermans, Beyer and Leibe, 2017: the mean loss is taken over these, not over all).
- ``batch_hard``: one triplet per anchor: its farthest positive and its closest negative.
- ``semi_hard``: per (anchor, positive) pair, the closest negative that is still farther
  than the positive but within the margin, d(a,p) < d(a,n) < d(a,p) + margin (FaceNet).
  When a pair has no such negative, it falls back to the hardest (closest) negative,
  which may be closer than the positive; the hinge then gives a larger loss.

A positive is a different batch position with the same label (duplicated images count).
Anchors without a positive or without a negative in the batch are skipped. Ties are
broken by the lowest batch index, so every strategy but ``random`` is deterministic, and
``random`` is deterministic given a seeded ``torch.Generator``. Distances are computed on
detached embeddings; :func:`batch_triplet_loss` then computes the loss with gradients.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from cnnkit.errors import DataError, ModelError, ShapeError, did_you_mean
from cnnkit.faces.losses import pairwise_sq_distances, triplet_loss

__all__ = ["STRATEGIES", "Triplets", "batch_triplet_loss", "mine"]

STRATEGIES = ("random", "batch_all", "batch_hard", "semi_hard")


class Triplets(NamedTuple):
    """Index triplets into a batch: ``anchor``, ``positive``, ``negative``, int64 (T,) each."""

    anchor: Tensor
    positive: Tensor
    negative: Tensor

    @property
    def size(self) -> int:
        """The number of triplets T (``len()`` would count the three fields)."""
        return int(self.anchor.numel())


def _masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(B, B) bool masks: positive[a, p] (same label, p != a) and negative[a, n] (other label)."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _empty(device: torch.device) -> Triplets:
    none = torch.zeros(0, dtype=torch.long, device=device)
    return Triplets(none, none, none)


def _random(dist: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator | None) -> Triplets:
    a, p = pos.nonzero(as_tuple=True)  # every (anchor, positive) pair, row-major order
    keep = neg[a].any(1)  # anchors with at least one negative
    a, p = a[keep], p[keep]
    if len(a) == 0:
        return _empty(dist.device)
    # a uniform draw among each anchor's negatives: random scores, -1 where not a negative
    scores = torch.rand(len(a), len(dist), generator=generator, device="cpu").to(dist.device)
    n = scores.masked_fill(~neg[a], -1.0).argmax(1)
    return Triplets(a, p, n)


def _batch_all(dist: Tensor, pos: Tensor, neg: Tensor, margin: float) -> Triplets:
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)  # (B, B, B): [a, p, n]
    hinge = dist.unsqueeze(2) - dist.unsqueeze(1) + margin  # d(a, p) - d(a, n) + margin
    a, p, n = (valid & (hinge > 0)).nonzero(as_tuple=True)
    return Triplets(a, p, n)


def _batch_hard(dist: Tensor, pos: Tensor, neg: Tensor) -> Triplets:
    has = pos.any(1) & neg.any(1)
    a = has.nonzero(as_tuple=True)[0]
    p = dist[a].masked_fill(~pos[a], -1.0).argmax(1)  # farthest positive (distances are >= 0)
    n = dist[a].masked_fill(~neg[a], float("inf")).argmin(1)  # closest negative
    return Triplets(a, p, n)


def _semi_hard(dist: Tensor, pos: Tensor, neg: Tensor, margin: float) -> Triplets:
    a, p = pos.nonzero(as_tuple=True)
    keep = neg[a].any(1)
    a, p = a[keep], p[keep]
    if len(a) == 0:
        return _empty(dist.device)
    d_an = dist[a]  # (T, B)
    d_ap = dist[a, p].unsqueeze(1)  # (T, 1)
    semi = neg[a] & (d_an > d_ap) & (d_an < d_ap + margin)
    inf = float("inf")
    n_semi = d_an.masked_fill(~semi, inf).argmin(1)  # closest semi-hard negative
    n_hard = d_an.masked_fill(~neg[a], inf).argmin(1)  # fallback: closest negative
    n = torch.where(semi.any(1), n_semi, n_hard)
    return Triplets(a, p, n)


def mine(
    embeddings: Tensor,
    labels: Tensor,
    *,
    strategy: str = "batch_hard",
    margin: float = 0.2,
    generator: torch.Generator | None = None,
) -> Triplets:
    """Index triplets for one batch: ``embeddings`` float (B, d), ``labels`` int (B,).

    ``strategy``: one of :data:`STRATEGIES` (see the module docstring); ``margin`` (squared
    distance units) is used by batch_all and semi_hard; ``generator`` by random (a CPU
    generator). Returns :class:`Triplets` of int64 (T,) batch indices, possibly empty.
    """
    if strategy not in STRATEGIES:
        raise ModelError(
            f"unknown triplet mining strategy {strategy!r}{did_you_mean(strategy, STRATEGIES)}; "
            f"choose one of {', '.join(STRATEGIES)}"
        )
    if not margin >= 0:
        raise ModelError(f"margin must be a non-negative number in squared-distance units, got {margin}; e.g. 0.2")
    if embeddings.dim() != 2 or labels.shape != (len(embeddings),):
        raise ShapeError(
            f"mining takes embeddings (B, d) and labels (B,), got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
        )
    if labels.is_floating_point():
        raise DataError("labels must be integer identity indices, not floats; convert them with labels.long()")
    with torch.no_grad():
        dist = pairwise_sq_distances(embeddings.detach().float())  # (B, B)
        pos, neg = _masks(labels.to(dist.device))
        if strategy == "random":
            return _random(dist, pos, neg, generator)
        if strategy == "batch_all":
            return _batch_all(dist, pos, neg, margin)
        if strategy == "batch_hard":
            return _batch_hard(dist, pos, neg)
        return _semi_hard(dist, pos, neg, margin)


def batch_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    strategy: str = "batch_hard",
    margin: float = 0.2,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Triplets]:
    """Mine triplets in the batch (:func:`mine`) and return their mean triplet loss (a
    scalar with gradients into ``embeddings``; 0 when no triplet was found) with the
    triplets themselves (for logging how many were mined).

    With batch_all this is Hermans et al.'s batch-all loss (mean over positive-loss
    triplets); with batch_hard their batch-hard loss (mean over anchors).
    """
    found = mine(embeddings, labels, strategy=strategy, margin=margin, generator=generator)
    loss = triplet_loss(
        embeddings[found.anchor], embeddings[found.positive], embeddings[found.negative], margin=margin
    )
    return loss, found
