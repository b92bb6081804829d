"""loader.batches: coverage, determinism, shards and drop_last, for any sizes (hypothesis)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.data.loader import batches, num_batches
from cnnkit.data.tensordata import TensorSplit
from cnnkit.errors import DataError


def numbered(n: int) -> TensorSplit:
    """x holds each sample's own index, so batches show which samples they carry."""
    x = torch.arange(n, dtype=torch.int64).view(n, 1, 1).expand(n, 1, 3).clone()
    return TensorSplit(x, torch.arange(n) % 7)


def seen(split: TensorSplit, **kw: object) -> list[list[int]]:
    return [xb[:, 0, 0].tolist() for xb, _ in batches(split, **kw)]  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 17), shuffle=st.booleans(), seed=st.integers(0, 9))
def test_every_sample_once_per_epoch(n: int, batch_size: int, shuffle: bool, seed: int) -> None:
    split = numbered(n)
    got = seen(split, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))
    flat = [i for b in got for i in b]
    assert sorted(flat) == list(range(n))
    assert all(len(b) == batch_size for b in got[:-1]) and 1 <= len(got[-1]) <= batch_size
    assert len(got) == num_batches(n, batch_size) == math.ceil(n / batch_size)
    if not shuffle:
        assert flat == list(range(n))
    for xb, yb in batches(split, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed)):
        assert torch.equal(yb, xb[:, 0, 0] % 7)  # labels travel with their samples


def test_seeded_order_repeats_and_epochs_differ() -> None:
    split = numbered(50)
    a = seen(split, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    b = seen(split, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    assert a == b
    gen = torch.Generator().manual_seed(1)
    first, second = (seen(split, batch_size=8, shuffle=True, generator=gen) for _ in range(2))
    assert first == a and second != first  # one draw per call: a new order each epoch


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 9), world=st.integers(1, 4), shuffle=st.booleans(),
       drop_last=st.booleans())  # fmt: skip
def test_shards_disjoint_and_equal(n: int, batch_size: int, world: int, shuffle: bool, drop_last: bool) -> None:
    split = numbered(n)
    parts = []
    for rank in range(world):
        got = seen(split, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(5),
                   drop_last=drop_last, shard=(rank, world))  # fmt: skip
        assert len(got) == num_batches(n, batch_size, drop_last, (rank, world))
        parts.append([i for b in got for i in b])
    sizes = {len(p) for p in parts}
    assert len(sizes) == 1  # every rank runs the same number of samples (and steps)
    union = [i for p in parts for i in p]
    assert len(union) == len(set(union))  # disjoint
    per_rank = n // world
    expected = (per_rank // batch_size) * batch_size if drop_last else per_rank
    assert sizes == {expected}


def test_drop_last_only_full_batches() -> None:
    got = seen(numbered(10), batch_size=4, shuffle=False, drop_last=True)
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert num_batches(10, 4, drop_last=True) == 2


def test_bad_arguments() -> None:
    with pytest.raises(DataError, match="batch_size"):
        list(batches(numbered(3), batch_size=0, shuffle=False))
    with pytest.raises(DataError, match="shard"):
        list(batches(numbered(3), batch_size=1, shuffle=False, shard=(2, 2)))
