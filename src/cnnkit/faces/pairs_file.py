"""Verification pairs: LFW's pairs-file format (read, write) and balanced random pairs.

The format (``pairs.txt``, ``pairsDevTrain.txt`` of LFW), fields split by whitespace::

    10 300                      header: FOLDS N, or just N (one fold)
    Abel_Pacheco 1 4            same identity: name, image number, image number
    ...                         (N same-pair lines, then N different-pair lines, per fold)
    Abdel_Madi_Shabneh 1 Dean_Barker 1    different identities: name1 i name2 j

Image numbers are 1-based and follow LFW's file naming: number 4 of Abel_Pacheco is
``Abel_Pacheco_0004.jpg``. For an identity whose files do not all end in ``_<number>``
(or a set without files), number k is its k-th image in row order. Names are matched
exactly, else with underscores read as spaces (LFW folders write "George_W_Bush" where
scikit-learn says "George W Bush"); :func:`write_pairs` writes spaces as underscores.

Pairs are row indices into an :class:`~cnnkit.faces.identities.IdentitySet`:
``i``, ``j`` int64 (M,), ``same`` bool (M,), ``fold`` int64 (M,) (0-based).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cnnkit.errors import DataError, did_you_mean
from cnnkit.faces.identities import IdentitySet

__all__ = ["IndexPairs", "image_numbers", "make_pairs", "read_pairs", "write_pairs"]

_NUMBERED = re.compile(r"_(\d+)$")


@dataclass
class IndexPairs:
    """M pairs of rows of one IdentitySet: i, j int64 (M,), same bool (M,), fold int64 (M,)."""

    i: Tensor
    j: Tensor
    same: Tensor
    fold: Tensor

    def __post_init__(self) -> None:
        m = len(self.i)
        for name, value, dtype in (("i", self.i, torch.int64), ("j", self.j, torch.int64),
                                   ("same", self.same, torch.bool), ("fold", self.fold, torch.int64)):  # fmt: skip
            if value.dtype != dtype or value.dim() != 1 or len(value) != m:
                raise DataError(f"pairs: {name} must be {dtype} of shape ({m},), got {value.dtype} {tuple(value.shape)}")

    def __len__(self) -> int:
        return len(self.i)

    @property
    def num_folds(self) -> int:
        return int(self.fold.max()) + 1 if len(self.fold) else 0


def image_numbers(data: IdentitySet) -> list[dict[int, int]]:
    """Per identity index: LFW image number -> row (see the module docstring for the rule)."""
    numbers: list[dict[int, int]] = [{} for _ in data.names]
    for k in range(len(data.names)):
        rows = data.rows_of(k).tolist()
        by_file: dict[int, int] = {}
        if data.paths is not None:
            for row in rows:
                match = _NUMBERED.search(Path(data.paths[row]).stem)
                if match is None or int(match.group(1)) in by_file:
                    break
                by_file[int(match.group(1))] = row
        numbers[k] = by_file if rows and len(by_file) == len(rows) else {n + 1: row for n, row in enumerate(rows)}
    return numbers


class _Reader:
    """Turns one pairs-file line at a time into rows, with errors naming file and line."""

    def __init__(self, path: Path, data: IdentitySet) -> None:
        self.path, self.data = path, data
        self.names = {name: k for k, name in enumerate(data.names)}
        self.numbers = image_numbers(data)

    def fail(self, line: int, message: str) -> DataError:
        return DataError(f"{self.path}, line {line}: {message}")

    def identity(self, line: int, name: str) -> int:
        if name in self.names:
            return self.names[name]
        if name.replace("_", " ") in self.names:
            return self.names[name.replace("_", " ")]
        hint = did_you_mean(name, self.data.names)
        raise self.fail(line, f"unknown identity {name!r}{hint}; the set {self.data.source} has no such name")

    def row(self, line: int, name: str, number: str) -> int:
        k = self.identity(line, name)
        if not number.isdigit() or int(number) < 1:
            raise self.fail(line, f"image number {number!r} of {name} is not a positive whole number (1 is the first image)")
        known = self.numbers[k]
        if int(number) not in known:
            have = sorted(known)
            shown = f"{have[0]}..{have[-1]}" if have == list(range(have[0], have[-1] + 1)) else ", ".join(map(str, have[:10]))
            raise self.fail(line, f"{name} has no image number {number} (it has {len(have)} images: {shown})")
        return known[int(number)]


def read_pairs(path: str | Path, data: IdentitySet) -> IndexPairs:
    """Read an LFW-format pairs file into row pairs of ``data`` (e.g. a folder:PATH set).

    Raises DataError naming the file and line for a bad header, malformed lines, unknown
    names, image numbers out of range, and for counts that do not match the header.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such pairs file; give LFW's pairs.txt or one written by write_pairs") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the pairs file ({err})") from None
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    reader = _Reader(path, data)
    if not lines:
        raise DataError(f"{path}: empty pairs file; the first line must be N or FOLDS N (LFW's pairs format)")
    header_line, header = lines[0]
    if len(header) not in (1, 2) or not all(t.isdigit() and int(t) > 0 for t in header):
        raise reader.fail(header_line, f"header {' '.join(header)!r} is not N or FOLDS N (positive whole numbers), e.g. '10 300'")
    folds, per = (1, int(header[0])) if len(header) == 1 else (int(header[0]), int(header[1]))
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise reader.fail(
            header_line,
            f"the header promises {folds} fold(s) of {per} same and {per} different pairs ({folds * 2 * per} lines) "
            f"but {len(body)} pair lines follow; fix the header or the lines",
        )
    rows_i, rows_j, same = [], [], []
    for line, fields in body:
        if len(fields) == 3:
            rows_i.append(reader.row(line, fields[0], fields[1]))
            rows_j.append(reader.row(line, fields[0], fields[2]))
            same.append(True)
        elif len(fields) == 4:
            if reader.identity(line, fields[0]) == reader.identity(line, fields[2]):
                raise reader.fail(line, f"a different-pair line names {fields[0]} twice; write a same pair as 'name i j'")
            rows_i.append(reader.row(line, fields[0], fields[1]))
            rows_j.append(reader.row(line, fields[2], fields[3]))
            same.append(False)
        else:
            raise reader.fail(line, f"expected 'name i j' (same) or 'name1 i name2 j' (different), got {len(fields)} fields")
    fold = torch.arange(len(body), dtype=torch.int64) // (2 * per)
    same_t = torch.tensor(same, dtype=torch.bool)
    for f in range(folds):
        count = int(same_t[fold == f].sum())
        if count != per:
            first = body[f * 2 * per][0]
            raise reader.fail(first, f"fold {f + 1} (from this line) has {count} same pairs, the header says {per}; each fold holds N same and N different pairs")
    return IndexPairs(torch.tensor(rows_i, dtype=torch.int64), torch.tensor(rows_j, dtype=torch.int64), same_t, fold)


def _file_name(name: str) -> str:
    if any(c.isspace() and c != " " for c in name) or not name.strip():
        raise DataError(f"identity name {name!r} cannot be written to a pairs file (tabs, newlines or empty); rename it")
    return name.replace(" ", "_")


def write_pairs(path: str | Path, data: IdentitySet, pairs: IndexPairs) -> Path:
    """Write ``pairs`` (rows of ``data``) in LFW's format; :func:`read_pairs` reads it back.

    Each fold must hold as many same as different pairs, and every fold the same number
    (the header says FOLDS N, or N for one fold). Per fold, same pairs come first, each
    group in the order given.
    """
    from cnnkit.atomic import write_text

    written = {_file_name(n) for n in data.names}
    if len(written) != len(data.names):
        raise DataError(f"{data.source}: two identity names differ only by spaces vs underscores; the pairs format cannot tell them apart")
    folds = pairs.num_folds
    per = int(pairs.same[pairs.fold == 0].sum()) if folds else 0
    for f in range(folds):
        in_fold = pairs.fold == f
        n_same, n_diff = int(pairs.same[in_fold].sum()), int((~pairs.same[in_fold]).sum())
        if n_same != per or n_diff != per:
            raise DataError(
                f"pairs fold {f + 1} has {n_same} same and {n_diff} different pairs; LFW's format needs {per} of each in every fold"
            )
    if per == 0:
        raise DataError("no pairs to write; make some with make_pairs(set, same=..., different=...)")
    if bool((data.identities[pairs.i] == data.identities[pairs.j]).ne(pairs.same).any()):
        raise DataError("pairs marked same/different disagree with the identities of their images; recompute the pairs")
    numbers = image_numbers(data)
    number_of = {row: n for per_identity in numbers for n, row in per_identity.items()}
    lines = [str(per) if folds == 1 else f"{folds}\t{per}"]
    for f in range(folds):
        for want_same in (True, False):
            for a, b in zip(pairs.i[(pairs.fold == f) & (pairs.same == want_same)].tolist(),
                            pairs.j[(pairs.fold == f) & (pairs.same == want_same)].tolist()):  # fmt: skip
                name_a = _file_name(data.names[int(data.identities[a])])
                name_b = _file_name(data.names[int(data.identities[b])])
                fields = [name_a, number_of[a], number_of[b]] if want_same else [name_a, number_of[a], name_b, number_of[b]]
                lines.append("\t".join(map(str, fields)))
    return write_text(path, "\n".join(lines) + "\n")


def make_pairs(data: IdentitySet, *, same: int, different: int, generator: torch.Generator) -> IndexPairs:
    """Random verification pairs for a set without a pairs file: ``same`` then ``different``.

    A same pair picks an identity uniformly among those with two or more images, then two
    of its images; a different pair picks two identities uniformly, then one image of
    each (so big identities do not crowd out the rest, as in LFW's own pairs). No
    unordered pair repeats. Returns one fold; raises DataError when the set cannot give
    that many distinct pairs.
    """
    if same < 0 or different < 0:
        raise DataError(f"pair counts must be 0 or more, got same={same}, different={different}")
    rows_by_id = [data.rows_of(k).tolist() for k in range(len(data.names))]
    sizes = [len(rows) for rows in rows_by_id]
    capacity_same = sum(n * (n - 1) // 2 for n in sizes)
    capacity_diff = (sum(sizes) ** 2 - sum(n * n for n in sizes)) // 2
    if same > capacity_same:
        raise DataError(f"{data.source}: asked for {same} same-identity pairs but only {capacity_same} distinct ones exist; ask for fewer or add images")
    if different > capacity_diff:
        raise DataError(f"{data.source}: asked for {different} different-identity pairs but only {capacity_diff} distinct ones exist; ask for fewer")
    rng = random.Random(int(torch.randint(0, 2**62, (1,), generator=generator)))  # seeded by the caller's generator
    seen: set[tuple[int, int]] = set()
    pairs: list[tuple[int, int]] = []
    # Same pairs: an identity leaves the draw once all its pairs are used, so small ones never stall it.
    open_ids = [k for k, n in enumerate(sizes) if n >= 2]
    used = [0] * len(sizes)
    while len(pairs) < same:
        slot = rng.randrange(len(open_ids))
        k = open_ids[slot]
        a, b = rng.sample(rows_by_id[k], 2)
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        pairs.append((a, b))
        used[k] += 1
        if used[k] == sizes[k] * (sizes[k] - 1) // 2:
            open_ids[slot] = open_ids[-1]
            open_ids.pop()
    present = [k for k, n in enumerate(sizes) if n > 0]
    budget = 100 * different + 10_000  # rejection stays cheap unless nearly every different pair is asked for
    while len(pairs) < same + different:
        budget -= 1
        if budget < 0:
            raise DataError(f"{data.source}: could not draw {different} distinct different-identity pairs; ask for fewer")
        ka, kb = rng.sample(present, 2)
        a, b = rng.choice(rows_by_id[ka]), rng.choice(rows_by_id[kb])
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        pairs.append((a, b))
    i = torch.tensor([a for a, _ in pairs], dtype=torch.int64)
    j = torch.tensor([b for _, b in pairs], dtype=torch.int64)
    flags = torch.cat([torch.ones(same, dtype=torch.bool), torch.zeros(different, dtype=torch.bool)])
    return IndexPairs(i, j, flags, torch.zeros(len(pairs), dtype=torch.int64))
