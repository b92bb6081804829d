"""The Gram matrix against the lecture's definition written as explicit loops."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import ShapeError
from cnnkit.style.gram import gram_matrix


def loop_gram(a: torch.Tensor) -> torch.Tensor:
    """G[n, k, k'] = sum_i sum_j a[n, k, i, j] * a[n, k', i, j], one term at a time."""
    n, c, h, w = a.shape
    g = torch.zeros(n, c, c, dtype=torch.float64)
    for b in range(n):
        for k in range(c):
            for k2 in range(c):
                total = 0.0
                for i in range(h):
                    for j in range(w):
                        total += float(a[b, k, i, j]) * float(a[b, k2, i, j])
                g[b, k, k2] = total
    return g


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2), c=st.integers(1, 4), h=st.integers(1, 4), w=st.integers(1, 4), seed=st.integers(0, 1000)
)
def test_gram_matches_explicit_loops(n: int, c: int, h: int, w: int, seed: int) -> None:
    a = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = gram_matrix(a)
    assert got.shape == (n, c, c)
    torch.testing.assert_close(got, loop_gram(a), rtol=1e-10, atol=1e-10)


def test_gram_is_symmetric_and_its_diagonal_is_channel_energy() -> None:
    a = torch.rand(1, 5, 6, 7)
    g = gram_matrix(a)[0]
    torch.testing.assert_close(g, g.T)
    torch.testing.assert_close(torch.diagonal(g), a[0].pow(2).sum(dim=(1, 2)))


def test_gram_ignores_where_features_are() -> None:
    """Moving every activation to other grid cells (the same permutation for every
    channel) keeps the Gram matrix: it measures co-occurrence, not layout."""
    a = torch.rand(1, 3, 4, 5)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    shuffled = a.reshape(1, 3, 20)[:, :, perm].reshape(1, 3, 4, 5)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(a))


def test_gram_gradient_flows() -> None:
    a = torch.rand(1, 2, 3, 3, requires_grad=True)
    gram_matrix(a).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_gram_needs_a_grid() -> None:
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        gram_matrix(torch.rand(2, 3))
