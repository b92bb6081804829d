"""Images labelled by identity, and splits that respect identities.

An :class:`IdentitySet` holds every image of a face (or class) dataset in memory:

- ``images``: uint8 (N, C, H, W), raw pixels 0..255, all one size;
- ``identities``: int64 (N,), index into ``names``;
- ``names``: one name per identity (folder names, class names);
- ``source``: the text it was loaded from (``"fashion-mnist:0-6"``, ``"folder:/data/lfw"``);
- ``notes``: what loading noticed (identities with a single image ...);
- ``paths``: the file of each image when read from files, else None.

Face recognition is judged on people never seen in training, so
:func:`split_identities` splits BY IDENTITY (no name in two parts), while
:func:`split_within` splits each identity's images (an enrolment gallery and probes
of the same people).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from cnnkit.errors import DataError, did_you_mean

__all__ = ["IdentitySet", "split_identities", "split_within"]


@dataclass
class IdentitySet:
    """Images with identity labels (see the module docstring for the formats)."""

    images: Tensor
    identities: Tensor
    names: tuple[str, ...]
    source: str
    notes: list[str] = field(default_factory=list)
    paths: list[str] | None = None

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        where = self.source or "identity set"
        if not isinstance(self.images, Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 4:
            got = f"{self.images.dtype} {tuple(self.images.shape)}" if isinstance(self.images, Tensor) else type(self.images).__name__
            raise DataError(f"{where}: images must be a uint8 tensor (N, C, H, W), got {got}")
        if self.images.shape[1] not in (1, 3):
            raise DataError(f"{where}: images need 1 or 3 channels, got {self.images.shape[1]}")
        if not isinstance(self.identities, Tensor) or self.identities.dtype != torch.int64 or self.identities.dim() != 1:
            got = f"{self.identities.dtype} {tuple(self.identities.shape)}" if isinstance(self.identities, Tensor) else type(self.identities).__name__
            raise DataError(f"{where}: identities must be an int64 tensor (N,), got {got}")
        if len(self.identities) != len(self.images):
            raise DataError(f"{where}: {len(self.images)} images but {len(self.identities)} identity labels; give one label per image")
        if len(set(self.names)) != len(self.names):
            twice = next(n for n in self.names if self.names.count(n) > 1)
            raise DataError(f"{where}: identity name {twice!r} appears twice; names must be unique")
        if len(self.identities) and (int(self.identities.min()) < 0 or int(self.identities.max()) >= len(self.names)):
            raise DataError(
                f"{where}: identity labels must lie in 0..{len(self.names) - 1} (one per name), "
                f"got {int(self.identities.min())}..{int(self.identities.max())}"
            )
        if self.paths is not None and len(self.paths) != len(self.images):
            raise DataError(f"{where}: {len(self.images)} images but {len(self.paths)} paths; give one path per image")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_identities(self) -> int:
        """Number of names (a set made by ``subset(..., compact=False)`` may hold names without images)."""
        return len(self.names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def counts(self) -> Tensor:
        """int64 (num_identities,): images per identity."""
        return torch.bincount(self.identities, minlength=len(self.names))

    def index_of(self, identity: int | str) -> int:
        """The identity index of a name (or a checked index)."""
        if isinstance(identity, str):
            if identity not in self.names:
                raise DataError(f"{self.source}: no identity named {identity!r}{did_you_mean(identity, self.names)}")
            return self.names.index(identity)
        if not 0 <= int(identity) < len(self.names):
            raise DataError(f"{self.source}: identity index {identity} out of range 0..{len(self.names) - 1}")
        return int(identity)

    def rows_of(self, identity: int | str) -> Tensor:
        """int64 (n,): rows holding ``identity`` (a name or an index), in row order."""
        return (self.identities == self.index_of(identity)).nonzero().flatten()

    def images_of(self, identity: int | str) -> Tensor:
        """uint8 (n, C, H, W): every image of ``identity`` (a name or an index), in row order."""
        return self.images[self.rows_of(identity)]

    def subset(self, rows: Tensor | Sequence[int], *, compact: bool = False) -> IdentitySet:
        """The images at ``rows`` (int64 indices, in the order given).

        compact=False keeps ``names`` and the labels as they are (so two subsets compare
        labels directly); compact=True keeps only the names still present, in their old
        order, and renumbers the labels 0..k-1.
        """
        rows = torch.as_tensor(rows, dtype=torch.int64).flatten()
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(self)):
            raise DataError(f"{self.source}: row index out of range 0..{len(self) - 1}")
        identities = self.identities[rows]
        names = self.names
        if compact:
            kept = identities.unique()  # sorted: the old name order is kept
            remap = torch.full((len(self.names),), -1, dtype=torch.int64)
            remap[kept] = torch.arange(len(kept))
            identities = remap[identities]
            names = tuple(self.names[k] for k in kept.tolist())
        paths = [self.paths[r] for r in rows.tolist()] if self.paths is not None else None
        return IdentitySet(self.images[rows], identities, names, self.source, list(self.notes), paths)


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise DataError(f"{name} must be in [0, 1), got {value}; e.g. 0.2 for a fifth of the identities")


def _rows_of_ids(data: IdentitySet, ids: Tensor) -> Tensor:
    return torch.isin(data.identities, ids).nonzero().flatten()


def split_identities(
    data: IdentitySet, *, val_fraction: float = 0.0, test_fraction: float = 0.0, generator: torch.Generator
) -> tuple[IdentitySet, IdentitySet, IdentitySet]:
    """Split BY IDENTITY into train / val / test sets that share no identity.

    round(fraction * K) of the K identities (at least one when the fraction is above 0)
    go to val and to test, chosen with ``generator``; the rest train. Each part keeps
    its rows in their original order and is compacted (its own names, labels 0..k-1).
    An empty part (fraction 0) has no images and no names. Raises DataError when
    training would keep fewer than two identities.
    """
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    present = data.identities.unique()
    total = len(present)
    n_val = max(1, round(val_fraction * total)) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * total)) if test_fraction > 0 else 0
    if total - n_val - n_test < 2:
        raise DataError(
            f"{data.source}: {total} identities leave {total - n_val - n_test} for training after "
            f"{n_val} for validation and {n_test} for test; training needs at least 2: use smaller fractions or more identities"
        )
    order = present[torch.randperm(total, generator=generator)]
    parts = (order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test])
    return tuple(data.subset(_rows_of_ids(data, ids), compact=True) for ids in parts)  # type: ignore[return-value]


def split_within(
    data: IdentitySet,
    *,
    first: int | None = None,
    fraction: float | None = None,
    at_least: int = 1,
    generator: torch.Generator,
) -> tuple[IdentitySet, IdentitySet]:
    """Split every identity's images in two parts that share identities (gallery vs probes).

    Give exactly one of: ``first`` images per identity for the first part (enrolment,
    e.g. 1 for one-shot), or ``fraction`` of each identity's images (rounded, at least
    one) for the first part. With ``fraction``, ``at_least`` raises that count up to
    ``min(at_least, n // 2)`` for an identity of n images: 2 gives a validation part
    "same" pairs even from 8 images a person, while the other part keeps as many.
    Images are picked with ``generator``; each part keeps rows
    in their original order and the full ``names`` (labels compare directly across the
    parts). An identity with too few images to give both parts one image goes wholly
    into the first part, and a note says so.
    """
    if (first is None) == (fraction is None):
        raise DataError("split_within needs exactly one of first= (images per identity) or fraction=")
    if first is not None and first < 1:
        raise DataError(f"first must be at least 1 image per identity, got {first}")
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise DataError(f"fraction must be in (0, 1), got {fraction}; e.g. 0.5 puts half of each identity's images first")
    taken: list[Tensor] = []
    rest: list[Tensor] = []
    short: list[str] = []
    for k in data.identities.unique().tolist():
        rows = (data.identities == k).nonzero().flatten()
        if first is not None:
            count = first
        else:
            count = max(1, round(fraction * len(rows)), min(at_least, len(rows) // 2))  # type: ignore[operator]
        if count >= len(rows):
            short.append(data.names[k])
            taken.append(rows)
            continue
        order = rows[torch.randperm(len(rows), generator=generator)]
        taken.append(order[:count])
        rest.append(order[count:])
    empty = torch.empty(0, dtype=torch.int64)
    first_part = data.subset(torch.cat(taken or [empty]).sort().values)
    second_part = data.subset(torch.cat(rest or [empty]).sort().values)
    if short:
        shown = ", ".join(short[:5]) + (f" and {len(short) - 5} more" if len(short) > 5 else "")
        note = f"{len(short)} identities have too few images for both parts and are only in the first: {shown}"
        first_part.notes.append(note)
        second_part.notes.append(note)
    return first_part, second_part
