"""The lecture's second method: verification as binary classification of a pair.

    y_hat = sigmoid( sum_k w_k |f(x_i)_k - f(x_j)_k| + b )

y = 1 for the same identity, 0 for different ones. Only w and b are learned (a logistic
regression on the element-wise absolute difference of two embeddings); the embedding
network f stays fixed. So the embeddings are computed once, stored, and reused at every
step: :func:`fit_pair_classifier` takes that stored (N, d) table plus index pairs into
it, and never runs the network. (Recomputing f(x) for every pair at every step would
cost a forward pass per image per epoch and give the same numbers.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import DataError, ModelError, ShapeError

__all__ = ["PairClassifier", "fit_pair_classifier"]


class PairClassifier(nn.Module):
    """A Linear(dim, 1) on |e1 - e2|: ``forward(e1, e2)`` (M, dim), (M, dim) -> logits (M,).

    Weights start at zero (the fit is a convex logistic regression, so this loses nothing
    and makes training independent of the global random state).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ModelError(f"dim must be a positive integer (the embedding size), got {dim}")
        self.dim = int(dim)
        self.linear = nn.Linear(dim, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def _features(self, e1: Tensor, e2: Tensor) -> Tensor:
        if e1.dim() != 2 or e1.shape != e2.shape or e1.shape[1] != self.dim:
            raise ShapeError(
                f"the pair classifier takes two (M, {self.dim}) embedding tensors, got "
                f"{tuple(e1.shape)} and {tuple(e2.shape)}; embed both sides with the model it was fit on"
            )
        return (e1 - e2).abs()  # (M, dim)

    def forward(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Logits (M,) that each pair shows the same identity."""
        return self.linear(self._features(e1, e2)).squeeze(1)

    @torch.no_grad()
    def predict_proba(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Probabilities (M,) in [0, 1] that e1[m] and e2[m] show the same identity."""
        return torch.sigmoid(self(e1, e2))


def _check_pairs(embeddings: Tensor, pairs_i: Tensor, pairs_j: Tensor, same: Tensor) -> None:
    if embeddings.dim() != 2:
        raise ShapeError(f"embeddings must be a (N, d) table, got shape {tuple(embeddings.shape)}")
    m = len(pairs_i)
    if pairs_i.dim() != 1 or pairs_j.shape != (m,) or same.shape != (m,):
        raise ShapeError(
            f"pairs_i, pairs_j and same must be (M,) vectors of one length, got {tuple(pairs_i.shape)}, "
            f"{tuple(pairs_j.shape)} and {tuple(same.shape)}"
        )
    if m == 0:
        raise DataError("no pairs to fit the pair classifier on; give at least one same and one different pair")
    n = len(embeddings)
    for name, idx in (("pairs_i", pairs_i), ("pairs_j", pairs_j)):
        if idx.is_floating_point() or int(idx.min()) < 0 or int(idx.max()) >= n:
            raise DataError(f"{name} must hold integer row indices in 0..{n - 1} of the embeddings table")
    flags = same.bool()
    if bool(flags.all()) or not bool(flags.any()):
        raise DataError("the pair classifier needs both same-identity and different-identity pairs to learn from")


def fit_pair_classifier(
    embeddings: Tensor,
    pairs_i: Tensor,
    pairs_j: Tensor,
    same: Tensor,
    *,
    epochs: int = 100,
    lr: float = 0.05,
    batch_size: int = 256,
    weight_decay: float = 0.0,
    generator: torch.Generator,
) -> PairClassifier:
    """Train a :class:`PairClassifier` on STORED embeddings.

    ``embeddings``: float (N, d), computed once by the caller (e.g. ``net.embed(images)``)
    and not recomputed here; pair m is (embeddings[pairs_i[m]], embeddings[pairs_j[m]])
    with label ``same[m]`` (bool (M,)). The |e_i - e_j| features are built once as well,
    then Adam minimizes the binary cross-entropy over ``epochs`` passes in shuffled
    mini-batches of ``batch_size`` pairs (the order from ``generator``, a CPU generator;
    required, so the fit never depends on torch's global random state).
    Returns the classifier in eval mode, on the embeddings' device.
    """
    _check_pairs(embeddings, pairs_i, pairs_j, same)
    if epochs < 1 or batch_size < 1 or not lr > 0 or not weight_decay >= 0:
        raise ModelError("epochs and batch_size must be positive integers, lr positive and weight_decay >= 0")
    table = embeddings.detach().float()
    device = table.device
    i, j = pairs_i.to(device).long(), pairs_j.to(device).long()
    feats = (table[i] - table[j]).abs()  # (M, d): the classifier's only input, computed once
    target = same.to(device).float()  # (M,)
    model = PairClassifier(table.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(feats), generator=generator).to(device)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            logits = model.linear(feats[batch]).squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logits, target[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()
