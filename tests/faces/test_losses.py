"""Squared distances against torch.cdist; the triplet and contrastive losses against their
formulas and against torch's triplet losses where those compute the same thing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnkit.errors import ModelError, ShapeError
from cnnkit.faces.losses import (
    contrastive_loss,
    pairwise_sq_distances,
    sq_distances,
    triplet_loss,
)


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 7), m=st.integers(1, 7), d=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_pairwise_matches_cdist_squared(n: int, m: int, d: int, seed: int) -> None:
    a, b = _rand(n, d, seed=seed), _rand(m, d, seed=seed + 1)
    dist = pairwise_sq_distances(a, b)
    assert dist.shape == (n, m)
    torch.testing.assert_close(dist, torch.cdist(a, b) ** 2)
    self_dist = pairwise_sq_distances(a)
    torch.testing.assert_close(self_dist, torch.cdist(a, a) ** 2)
    assert bool((self_dist.diagonal() == 0).all()) and bool((self_dist >= 0).all())


def test_pairwise_unit_rows_in_range_and_differentiable() -> None:
    a = torch.nn.functional.normalize(_rand(6, 5, seed=3), dim=1).requires_grad_()
    dist = pairwise_sq_distances(a)
    assert float(dist.detach().max()) <= 4.0 + 1e-9
    dist.sum().backward()
    assert bool(torch.isfinite(a.grad).all())  # no square root: finite even at d = 0


def test_sq_distances_rowwise() -> None:
    e1, e2 = _rand(4, 3, seed=0), _rand(4, 3, seed=1)
    expected = torch.tensor([sum((float(x) - float(y)) ** 2 for x, y in zip(r1, r2)) for r1, r2 in zip(e1, e2)])
    torch.testing.assert_close(sq_distances(e1, e2), expected.double())


def _formula(a: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float) -> torch.Tensor:
    """max(||a - p||^2 - ||a - n||^2 + margin, 0), one triplet at a time in plain Python."""
    out = []
    for ra, rp, rn in zip(a.tolist(), p.tolist(), n.tolist()):
        d_ap = sum((x - y) ** 2 for x, y in zip(ra, rp))
        d_an = sum((x - y) ** 2 for x, y in zip(ra, rn))
        out.append(max(d_ap - d_an + margin, 0.0))
    return torch.tensor(out, dtype=torch.float64)


@settings(max_examples=20, deadline=None)
@given(t=st.integers(1, 6), d=st.integers(1, 8), margin=st.floats(0.01, 2.0), seed=st.integers(0, 10_000))
def test_triplet_loss_formula_and_torch(t: int, d: int, margin: float, seed: int) -> None:
    a, p, n = _rand(t, d, seed=seed), _rand(t, d, seed=seed + 1), _rand(t, d, seed=seed + 2)
    per = triplet_loss(a, p, n, margin=margin, reduction="none")
    torch.testing.assert_close(per, _formula(a, p, n, margin))
    torch.testing.assert_close(triplet_loss(a, p, n, margin=margin), per.mean())
    torch.testing.assert_close(triplet_loss(a, p, n, margin=margin, reduction="sum"), per.sum())
    # torch's general triplet loss with the squared L2 distance is the same loss (it needs margin > 0)
    ref = nn.TripletMarginWithDistanceLoss(distance_function=lambda x, y: (x - y).pow(2).sum(1), margin=margin)
    torch.testing.assert_close(triplet_loss(a, p, n, margin=margin), ref(a, p, n))


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 8), x=st.floats(0.0, 1.0), margin=st.floats(0.01, 1.5), seed=st.integers(0, 10_000))
def test_triplet_loss_equals_triplet_margin_loss_when_distances_sum_to_one(
    d: int, x: float, margin: float, seed: int
) -> None:
    # nn.TripletMarginLoss hinges on plain distances D, we on squared ones D^2. Since
    # D_ap^2 - D_an^2 = (D_ap - D_an)(D_ap + D_an), the two coincide when D_ap + D_an = 1.
    a = _rand(1, d, seed=seed)
    u = torch.nn.functional.normalize(_rand(1, d, seed=seed + 1), dim=1)
    v = torch.nn.functional.normalize(_rand(1, d, seed=seed + 2), dim=1)
    p, n = a + x * u, a + (1.0 - x) * v  # D_ap = x, D_an = 1 - x
    ref = nn.TripletMarginLoss(margin=margin, p=2, eps=0.0)(a, p, n)
    torch.testing.assert_close(triplet_loss(a, p, n, margin=margin), ref)


def test_triplet_loss_empty_batch_is_a_differentiable_zero() -> None:
    a = torch.zeros(0, 4, requires_grad=True)
    loss = triplet_loss(a, a, a)
    assert loss.item() == 0.0
    loss.backward()  # a training step needs no special case
    assert triplet_loss(a, a, a, reduction="none").shape == (0,)


def test_contrastive_loss_formula() -> None:
    e1, e2 = _rand(6, 3, seed=5), _rand(6, 3, seed=6) * 0.3
    same = torch.tensor([True, False, True, False, False, True])
    margin = 2.5
    expected = []
    for r1, r2, s in zip(e1.tolist(), e2.tolist(), same.tolist()):
        d = sum((x - y) ** 2 for x, y in zip(r1, r2))
        expected.append(d if s else max(margin - d, 0.0))
    expected_t = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(contrastive_loss(e1, e2, same, margin=margin, reduction="none"), expected_t)
    torch.testing.assert_close(contrastive_loss(e1, e2, same, margin=margin), expected_t.mean())


def test_contrastive_loss_pushes_different_pairs_to_the_margin_only() -> None:
    e = torch.zeros(2, 2, requires_grad=True)  # identical embeddings: d = 0
    loss = contrastive_loss(e[:1], e[1:], torch.tensor([False]), margin=1.0)
    assert loss.item() == 1.0
    loss.backward()
    assert bool(torch.isfinite(e.grad).all())  # the squared form has no sqrt singularity at d = 0
    far = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.5, 0.0]])  # d = 2.25 >= margin
    assert float(contrastive_loss(*far, torch.tensor([False]), margin=1.0)) == 0.0
    assert float(contrastive_loss(*far, torch.tensor([True]), margin=1.0)) == 2.25


def test_loss_errors() -> None:
    a = torch.zeros(2, 3)
    with pytest.raises(ModelError, match="margin"):
        triplet_loss(a, a, a, margin=-0.1)
    with pytest.raises(ModelError, match="reduction"):
        triplet_loss(a, a, a, reduction="avg")
    with pytest.raises(ShapeError, match="same shape"):
        triplet_loss(a, torch.zeros(2, 4), a)
    with pytest.raises(ShapeError, match="embed both sides"):
        pairwise_sq_distances(a, torch.zeros(2, 4))
    with pytest.raises(ShapeError, match=r"\(N, d\)"):
        pairwise_sq_distances(torch.zeros(3))
    with pytest.raises(ShapeError, match="same must be"):
        contrastive_loss(a, a, torch.tensor([True]))
