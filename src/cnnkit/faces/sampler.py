"""P x K batches: P identities, K images of each, so every batch holds triplets to mine.

A batch drawn uniformly from a dataset with many identities often holds one image per
identity and so no positive pair at all. The P x K scheme (Hermans et al., 2017) instead
picks P identities at random and K images of each; a batch of B = P * K images then has
B * (K - 1) anchor-positive pairs and B * (B - K) anchor-negative pairs.

Rules:
- Identities with a single image are skipped (they can give no positive pair).
- An identity with 2 <= n < K images contributes all n of them, in random order, and
  K - n more drawn again from those n (with replacement), so a batch is always P * K.
- An identity with n >= K images contributes K distinct images.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from cnnkit.errors import DataError, ModelError

__all__ = ["PKSampler"]


class PKSampler:
    """Batches of dataset indices, P identities x K images each.

    ``labels``: int (N,) identity index per image. Iterating yields ``num_batches`` int64
    tensors of shape (P * K,), identity by identity (positions i*K .. i*K+K-1 share one
    identity). ``generator`` (a CPU ``torch.Generator``) makes the sequence reproducible;
    each new iteration continues from the generator's state, so epochs differ.
    ``num_batches`` defaults to about one pass over the usable images:
    max(1, usable // (P * K)).

    Example: ``for idx in PKSampler(labels, p=8, k=4, generator=g): loss = step(images[idx], labels[idx])``
    """

    def __init__(
        self,
        labels: Tensor,
        *,
        p: int,
        k: int,
        num_batches: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if p < 2 or k < 2:
            raise ModelError(f"P x K batches need p >= 2 identities and k >= 2 images each, got p={p}, k={k}")
        if num_batches is not None and num_batches < 1:
            raise ModelError(f"num_batches must be a positive integer, got {num_batches}")
        if labels.dim() != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
            raise DataError(f"labels must be an integer (N,) vector of identity indices, got {labels.dtype} {tuple(labels.shape)}")
        labels = labels.detach().to("cpu", torch.long)
        order = torch.argsort(labels, stable=True)
        ids, counts = torch.unique_consecutive(labels[order], return_counts=True)
        groups = torch.split(order, counts.tolist())
        keep = counts >= 2  # identities with a single image give no positive pair
        self.identities = ids[keep]  # int64 (I,): the identities batches are drawn from
        self._groups = [g for g, ok in zip(groups, keep.tolist()) if ok]  # image indices per identity
        usable = len(self._groups)
        if usable < 2:
            raise DataError(
                f"triplets need at least 2 identities with at least 2 images each, but this data has {usable}; "
                "add images so that several identities have two or more"
            )
        if p > usable:
            raise DataError(
                f"asked for p={p} identities per batch but only {usable} identities have at least 2 images; "
                f"use p <= {usable}"
            )
        self.p, self.k = int(p), int(k)
        images = sum(len(g) for g in self._groups)
        self.num_batches = int(num_batches) if num_batches is not None else max(1, images // (p * k))
        self.generator = generator

    def __len__(self) -> int:
        return self.num_batches

    def _take(self, group: Tensor) -> Tensor:
        """K indices of one identity's images: distinct when it has K or more."""
        shuffled = group[torch.randperm(len(group), generator=self.generator)]
        if len(group) >= self.k:
            return shuffled[: self.k]
        extra = torch.randint(len(group), (self.k - len(group),), generator=self.generator)
        return torch.cat([shuffled, group[extra]])

    def __iter__(self) -> Iterator[Tensor]:
        for _ in range(self.num_batches):
            chosen = torch.randperm(len(self._groups), generator=self.generator)[: self.p]
            yield torch.cat([self._take(self._groups[i]) for i in chosen.tolist()])  # (P * K,)
