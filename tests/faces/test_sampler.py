"""PKSampler: batch structure, small identities, skipped singletons, determinism, errors."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import DataError, ModelError
from cnnkit.faces.sampler import PKSampler


def _check_batch(idx: torch.Tensor, labels: torch.Tensor, p: int, k: int) -> None:
    assert idx.dtype == torch.long and idx.shape == (p * k,)
    blocks = labels[idx].view(p, k)
    assert bool((blocks == blocks[:, :1]).all())  # K consecutive images share an identity
    assert len(set(blocks[:, 0].tolist())) == p  # P different identities
    counts = Counter(labels.tolist())
    for block_idx in idx.view(p, k):
        n = counts[int(labels[block_idx[0]])]
        assert n >= 2
        distinct = len(set(block_idx.tolist()))
        assert distinct == min(n, k)  # distinct when possible, every image when fewer than K


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(1, 7), min_size=2, max_size=8),
    p=st.integers(2, 4),
    k=st.integers(2, 5),
    seed=st.integers(0, 1000),
)
def test_batches_have_p_identities_of_k_images(counts: list[int], p: int, k: int, seed: int) -> None:
    labels = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    usable = sum(c >= 2 for c in counts)
    if usable < max(2, p):
        with pytest.raises(DataError):
            PKSampler(labels, p=p, k=k)
        return
    sampler = PKSampler(labels, p=p, k=k, num_batches=3, generator=torch.Generator().manual_seed(seed))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    for idx in batches:
        _check_batch(idx, labels, p, k)


def test_singletons_are_skipped_and_small_identities_filled() -> None:
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 1, 2, 3, 3, 3])  # identity 2 has one image
    sampler = PKSampler(labels, p=3, k=4, num_batches=20, generator=torch.Generator().manual_seed(1))
    assert sampler.identities.tolist() == [0, 1, 3]
    for idx in sampler:
        assert 7 not in idx.tolist()
        got = labels[idx].view(3, 4)
        block0 = idx.view(3, 4)[got[:, 0] == 0][0]
        assert set(block0.tolist()) == {0, 1}  # both images of identity 0, two of them twice


def test_default_length_is_one_pass_and_seeding_reproduces() -> None:
    labels = torch.arange(10).repeat_interleave(6)  # 60 images, 10 identities
    a = PKSampler(labels, p=5, k=3, generator=torch.Generator().manual_seed(7))
    b = PKSampler(labels, p=5, k=3, generator=torch.Generator().manual_seed(7))
    assert len(a) == 60 // 15
    first = [t.tolist() for t in a]
    assert first == [t.tolist() for t in b]
    assert [t.tolist() for t in a] != first  # the next epoch continues the generator
    picked = Counter(int(labels[i]) for _ in range(5) for t in a for i in t[::3])
    assert set(picked) == set(range(10))  # every identity gets picked over a few epochs


def test_sampler_errors() -> None:
    with pytest.raises(DataError, match="triplets need at least 2 identities"):
        PKSampler(torch.tensor([0, 0, 0, 1, 2]), p=2, k=2)
    with pytest.raises(DataError, match="p <= 2"):
        PKSampler(torch.tensor([0, 0, 1, 1, 2]), p=3, k=2)
    with pytest.raises(ModelError, match="k >= 2"):
        PKSampler(torch.tensor([0, 0, 1, 1]), p=2, k=1)
    with pytest.raises(ModelError, match="num_batches"):
        PKSampler(torch.tensor([0, 0, 1, 1]), p=2, k=2, num_batches=0)
    with pytest.raises(DataError, match="integer"):
        PKSampler(torch.tensor([0.0, 0.0, 1.0, 1.0]), p=2, k=2)
