"""Triplet mining: hand-made batches where the right picks are known, and every strategy
against a plain-Python reference on random batches."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import DataError, ModelError, ShapeError
from cnnkit.faces.losses import triplet_loss
from cnnkit.faces.mining import STRATEGIES, batch_triplet_loss, mine

# 1-D embeddings on a line, so every squared distance is (x_i - x_j)^2 by hand.
#  index:   0    1     2     3     4     5     6     7
X = [0.0, 1.0, -0.5, 1.1, 1.2, 3.0, 50.0, -2.0]
LABELS = [0, 0, 1, 1, 2, 2, 3, 0]  # identity 3 has one image: never an anchor
MARGIN = 0.5


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(X).unsqueeze(1), torch.tensor(LABELS)


def _as_list(triplets: tuple[torch.Tensor, ...]) -> list[tuple[int, int, int]]:
    return list(zip(*(t.tolist() for t in triplets)))


def test_batch_hard_picks_farthest_positive_and_closest_negative() -> None:
    found = _as_list(mine(*_batch(), strategy="batch_hard"))
    by_anchor = {a: (p, n) for a, p, n in found}
    assert sorted(by_anchor) == [0, 1, 2, 3, 4, 5, 7]  # the singleton (6) is skipped
    assert by_anchor[0] == (7, 2)  # positives at d=1 (idx 1) and d=4 (idx 7); negatives: idx 2 at d=0.25
    assert by_anchor[1] == (7, 3)  # positives at d=1 and d=9; idx 3 is 0.01 away
    assert by_anchor[5] == (4, 3)  # anchor 5 (x=3): its one positive; closest negative x=1.1


def test_semi_hard_picks_the_closest_negative_beyond_the_positive() -> None:
    found = {(a, p): n for a, p, n in _as_list(mine(*_batch(), strategy="semi_hard", margin=MARGIN))}
    # (0, 1): d_ap = 1; negatives at 0.25 (hard), 1.21 and 1.44 (semi-hard), 9, ... -> 1.21 (idx 3)
    assert found[(0, 1)] == 3
    # (1, 0): d_ap = 1; negatives at 2.25, 0.01, 0.04, 4: none in (1, 1.5) -> hardest, idx 3
    assert found[(1, 0)] == 3
    # (0, 7): d_ap = 4; nothing in (4, 4.5) -> hardest negative of anchor 0, idx 2
    assert found[(0, 7)] == 2
    assert len(found) == 3 * 2 + 2 + 2  # every (anchor, positive) pair once; none for idx 6


def test_batch_all_keeps_exactly_the_triplets_with_positive_loss() -> None:
    emb, labels = _batch()
    found = mine(emb, labels, strategy="batch_all", margin=MARGIN)
    losses = triplet_loss(emb[found.anchor], emb[found.positive], emb[found.negative], margin=MARGIN, reduction="none")
    assert bool((losses > 0).all())
    assert (0, 1, 2) in _as_list(found)  # 1 - 0.25 + 0.5 > 0
    assert (0, 1, 5) not in _as_list(found)  # 1 - 9 + 0.5 < 0
    assert all(a != 6 for a, _, _ in _as_list(found))


def _reference(x: torch.Tensor, labels: list[int], strategy: str, margin: float) -> list[tuple[int, int, int]]:
    """Plain loops over the batch with distances from torch.cdist."""
    d = (torch.cdist(x, x) ** 2).tolist()
    b = len(labels)
    out = []
    for a in range(b):
        pos = [p for p in range(b) if p != a and labels[p] == labels[a]]
        neg = [n for n in range(b) if labels[n] != labels[a]]
        if not pos or not neg:
            continue
        if strategy == "batch_hard":
            p = max(pos, key=lambda i: (d[a][i], -i))
            n = min(neg, key=lambda i: (d[a][i], i))
            out.append((a, p, n))
            continue
        for p in pos:
            if strategy == "batch_all":
                out += [(a, p, n) for n in neg if d[a][p] - d[a][n] + margin > 0]
            else:
                semi = [n for n in neg if d[a][p] < d[a][n] < d[a][p] + margin]
                n = min(semi or neg, key=lambda i: (d[a][i], i))
                out.append((a, p, n))
    return sorted(out)


@settings(max_examples=25, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=2, max_size=10),
    dim=st.integers(1, 4),
    margin=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
)
def test_strategies_match_reference(labels: list[int], dim: int, margin: float, seed: int) -> None:
    x = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    for strategy in ("batch_all", "batch_hard", "semi_hard"):
        got = sorted(_as_list(mine(x, torch.tensor(labels), strategy=strategy, margin=margin)))
        assert got == _reference(x, labels, strategy, margin), strategy


def test_random_triplets_are_valid_cover_all_pairs_and_follow_the_generator() -> None:
    emb, labels = _batch()
    draws = [mine(emb, labels, strategy="random", generator=torch.Generator().manual_seed(s)) for s in range(40)]
    again = mine(emb, labels, strategy="random", generator=torch.Generator().manual_seed(0))
    assert _as_list(again) == _as_list(draws[0])
    pairs = sorted((a, p) for a, p, _ in _as_list(draws[0]))
    expected_pairs = sorted(
        (a, p) for a in range(8) for p in range(8) if a != p and LABELS[a] == LABELS[p]
    )
    assert pairs == expected_pairs
    seen_negatives: set[int] = set()
    for draw in draws:
        for a, p, n in _as_list(draw):
            assert LABELS[a] == LABELS[p] and a != p and LABELS[n] != LABELS[a]
            if a == 0:
                seen_negatives.add(n)
    assert seen_negatives == {2, 3, 4, 5, 6}  # every negative of anchor 0 gets drawn


def test_batch_triplet_loss_is_hermans_batch_hard() -> None:
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(8, 3), dim=1).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss, found = batch_triplet_loss(emb, labels, strategy="batch_hard", margin=0.3)
    d = torch.cdist(emb, emb) ** 2
    same = labels[:, None] == labels[None, :]
    hardest_pos = torch.where(same, d, torch.zeros_like(d)).max(1).values
    hardest_neg = torch.where(~same, d, torch.full_like(d, float("inf"))).min(1).values
    expected = (hardest_pos - hardest_neg + 0.3).clamp_min(0).mean()
    torch.testing.assert_close(loss, expected)
    assert found.size == 8
    loss.backward()
    assert emb.grad is not None and bool(emb.grad.abs().sum() > 0)


def test_no_triplets_in_a_one_identity_batch() -> None:
    emb = torch.randn(4, 3, requires_grad=True)
    for strategy in STRATEGIES:
        loss, found = batch_triplet_loss(emb, torch.zeros(4, dtype=torch.long), strategy=strategy)
        assert found.size == 0 and loss.item() == 0.0
        loss.backward()


def test_mining_errors() -> None:
    emb, labels = _batch()
    with pytest.raises(ModelError, match="did you mean 'batch_hard'"):
        mine(emb, labels, strategy="batch-hard")
    with pytest.raises(ModelError, match="margin"):
        mine(emb, labels, margin=-1.0)
    with pytest.raises(ShapeError, match="labels"):
        mine(emb, labels[:3])
    with pytest.raises(DataError, match="integer"):
        mine(emb, labels.float())
