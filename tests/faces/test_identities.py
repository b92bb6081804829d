"""IdentitySet validation and access, and the identity-respecting splits."""

from __future__ import annotations

import pytest
import torch
from face_folders import synthetic_set
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import DataError
from cnnkit.faces.identities import IdentitySet, split_identities, split_within


def _make(**changes: object) -> IdentitySet:
    fields: dict[str, object] = {
        "images": torch.zeros(3, 1, 4, 4, dtype=torch.uint8),
        "identities": torch.tensor([0, 1, 1]),
        "names": ("ann", "bob"),
        "source": "test",
    }
    fields.update(changes)
    return IdentitySet(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"images": torch.zeros(3, 1, 4, 4)}, "images must be a uint8 tensor (N, C, H, W), got torch.float32"),
        ({"images": torch.zeros(3, 4, 4, dtype=torch.uint8)}, "images must be a uint8 tensor (N, C, H, W)"),
        ({"images": torch.zeros(3, 2, 4, 4, dtype=torch.uint8)}, "images need 1 or 3 channels, got 2"),
        ({"identities": torch.tensor([0, 1, 1], dtype=torch.int32)}, "identities must be an int64 tensor (N,)"),
        ({"identities": torch.tensor([0, 1])}, "3 images but 2 identity labels"),
        ({"identities": torch.tensor([0, 1, 2])}, "identity labels must lie in 0..1 (one per name), got 0..2"),
        ({"identities": torch.tensor([0, -1, 1])}, "identity labels must lie in 0..1"),
        ({"names": ("ann", "ann")}, "identity name 'ann' appears twice"),
        ({"paths": ["a.png"]}, "3 images but 1 paths"),
    ],
)
def test_validation_names_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(DataError) as err:
        _make(**changes)
    assert message in str(err.value)
    assert str(err.value).startswith("test: ")


def test_access_by_name_and_index_matches_a_mask() -> None:
    data = synthetic_set([2, 3, 1], names=("alice", "bob", "carol"), shuffle_seed=0)
    assert len(data) == 6 and data.num_identities == 3 and data.image_shape == (1, 2, 2)
    assert data.counts().tolist() == [2, 3, 1]
    for k, name in enumerate(data.names):
        expected = data.images[data.identities == k]
        assert torch.equal(data.images_of(k), expected)
        assert torch.equal(data.images_of(name), expected)
        assert data.rows_of(name).tolist() == [r for r in range(6) if data.identities[r] == k]
    with pytest.raises(DataError, match=r"synthetic: no identity named 'carl' \(did you mean 'carol'\?\)"):
        data.images_of("carl")
    with pytest.raises(DataError, match="identity index 3 out of range 0..2"):
        data.images_of(3)


def test_subset_keeps_or_compacts_names() -> None:
    data = synthetic_set([2, 2, 2])
    data.paths = [f"f{r}.png" for r in range(6)]
    kept = data.subset([5, 4, 0])
    assert kept.names == data.names and kept.identities.tolist() == [2, 2, 0]
    assert kept.images[:, 0, 0, 0].tolist() == [5, 4, 0] and kept.paths == ["f5.png", "f4.png", "f0.png"]
    compact = data.subset([5, 4, 0], compact=True)
    assert compact.names == ("id0", "id2") and compact.identities.tolist() == [1, 1, 0]
    with pytest.raises(DataError, match="row index out of range 0..5"):
        data.subset([6])


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 4), min_size=4, max_size=12),
    val=st.sampled_from([0.0, 0.1, 0.25]),
    test=st.sampled_from([0.0, 0.2, 0.3]),
    seed=st.integers(0, 1000),
)
def test_split_identities_shares_no_identity(counts: list[int], val: float, test: float, seed: int) -> None:
    data = synthetic_set(counts, shuffle_seed=seed)
    train, val_set, test_set = split_identities(data, val_fraction=val, test_fraction=test, generator=torch.Generator().manual_seed(seed))
    k = len(counts)
    expect_val = max(1, round(val * k)) if val else 0
    expect_test = max(1, round(test * k)) if test else 0
    assert (len(val_set.names), len(test_set.names), len(train.names)) == (expect_val, expect_test, k - expect_val - expect_test)
    assert not set(train.names) & set(val_set.names) and not set(train.names) & set(test_set.names)
    assert not set(val_set.names) & set(test_set.names)
    # Every image lands in exactly one part, under its own identity's name.
    seen = []
    for part in (train, val_set, test_set):
        rows = part.images[:, 0, 0, 0].long()  # the synthetic image of row r is filled with r
        seen += rows.tolist()
        assert [part.names[i] for i in part.identities.tolist()] == [data.names[data.identities[r]] for r in rows.tolist()]
        assert rows.tolist() == sorted(rows.tolist())  # original order kept
    assert sorted(seen) == list(range(len(data)))


def test_split_identities_is_seeded_and_refuses_too_few() -> None:
    data = synthetic_set([2] * 10)
    a = split_identities(data, val_fraction=0.2, test_fraction=0.2, generator=torch.Generator().manual_seed(3))
    b = split_identities(data, val_fraction=0.2, test_fraction=0.2, generator=torch.Generator().manual_seed(3))
    assert [p.names for p in a] == [p.names for p in b]
    with pytest.raises(DataError, match="leave 1 for training after 2 for validation and 1 for test; training needs at least 2"):
        split_identities(synthetic_set([2] * 4), val_fraction=0.5, test_fraction=0.2, generator=torch.Generator())
    with pytest.raises(DataError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        split_identities(data, val_fraction=1.0, generator=torch.Generator())


def test_split_within_one_shot() -> None:
    data = synthetic_set([3, 1, 4], shuffle_seed=1)
    gallery, probes = split_within(data, first=1, generator=torch.Generator().manual_seed(0))
    assert gallery.names == probes.names == data.names
    assert gallery.counts().tolist() == [1, 1, 1] and probes.counts().tolist() == [2, 0, 3]
    rows = sorted(gallery.images[:, 0, 0, 0].tolist() + probes.images[:, 0, 0, 0].tolist())
    assert rows == list(range(len(data)))
    assert any("1 identities have too few images for both parts and are only in the first: id1" in n for n in gallery.notes)


def test_split_within_fraction_and_bad_options() -> None:
    data = synthetic_set([4, 10])
    first, second = split_within(data, fraction=0.5, generator=torch.Generator().manual_seed(0))
    assert first.counts().tolist() == [2, 5] and second.counts().tolist() == [2, 5]
    small = synthetic_set([1, 2, 3, 4, 8, 40])
    first, second = split_within(small, fraction=0.1, at_least=2, generator=torch.Generator().manual_seed(0))
    # max(1, round(0.1 n), min(2, n // 2)), and an identity of one image goes wholly first
    assert first.counts().tolist() == [1, 1, 1, 2, 2, 4]
    assert second.counts().tolist() == [0, 1, 2, 2, 6, 36]
    with pytest.raises(DataError, match="exactly one of first="):
        split_within(data, generator=torch.Generator())
    with pytest.raises(DataError, match="exactly one of first="):
        split_within(data, first=1, fraction=0.5, generator=torch.Generator())
    with pytest.raises(DataError, match="first must be at least 1"):
        split_within(data, first=0, generator=torch.Generator())
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\)"):
        split_within(data, fraction=1.0, generator=torch.Generator())
