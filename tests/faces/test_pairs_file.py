"""LFW pairs files (read, write, errors) and balanced random pairs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from face_folders import make_folder, synthetic_set
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import DataError
from cnnkit.faces.identities import IdentitySet
from cnnkit.faces.identity_sources import load_identities
from cnnkit.faces.pairs_file import IndexPairs, make_pairs, read_pairs, write_pairs


@pytest.fixture
def lfw_like(tmp_path: Path) -> IdentitySet:
    make_folder(tmp_path / "faces", {"Ada": 3, "Bob_Lee": 2, "Cy": 1})
    return load_identities(f"folder:{tmp_path / 'faces'}", image_size=8, channels=1)


def _row(data: IdentitySet, file_name: str) -> int:
    """Reference: the row whose file is ``file_name``."""
    assert data.paths is not None
    return next(r for r, p in enumerate(data.paths) if Path(p).name == file_name)


def test_reads_lfw_pairs(lfw_like: IdentitySet, tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("2\nAda\t1\t3\nBob_Lee 2 1\n\nAda 2 Bob_Lee 1\nCy\t1\tAda\t3\n")
    pairs = read_pairs(path, lfw_like)
    expected = [("Ada_0001.png", "Ada_0003.png"), ("Bob_Lee_0002.png", "Bob_Lee_0001.png"),
                ("Ada_0002.png", "Bob_Lee_0001.png"), ("Cy_0001.png", "Ada_0003.png")]  # fmt: skip
    assert pairs.i.tolist() == [_row(lfw_like, a) for a, _ in expected]
    assert pairs.j.tolist() == [_row(lfw_like, b) for _, b in expected]
    assert pairs.same.tolist() == [True, True, False, False] and pairs.fold.tolist() == [0, 0, 0, 0]
    assert pairs.i.dtype == torch.int64 and pairs.same.dtype == torch.bool and len(pairs) == 4


def test_numbers_follow_file_names_not_positions(tmp_path: Path) -> None:
    make_folder(tmp_path / "faces", {"Ada": 2, "Bob": 2})
    (tmp_path / "faces" / "Ada" / "Ada_0001.png").rename(tmp_path / "faces" / "Ada" / "Ada_0007.png")
    data = load_identities(f"folder:{tmp_path / 'faces'}", image_size=8, channels=1)
    (tmp_path / "p.txt").write_text("1\nAda 7 2\nAda 7 Bob 2\n")
    pairs = read_pairs(tmp_path / "p.txt", data)
    assert pairs.i.tolist() == [_row(data, "Ada_0007.png")] * 2
    assert pairs.j.tolist() == [_row(data, "Ada_0002.png"), _row(data, "Bob_0002.png")]
    with pytest.raises(DataError, match=r"Ada has no image number 1 \(it has 2 images: 2, 7\)"):
        (tmp_path / "q.txt").write_text("1\nAda 1 2\nAda 7 Bob 2\n")
        read_pairs(tmp_path / "q.txt", data)


def test_unnumbered_files_count_by_position(tmp_path: Path) -> None:
    make_folder(tmp_path / "faces", {"Ada": 3, "Bob": 2}, lfw_names=False)
    data = load_identities(f"folder:{tmp_path / 'faces'}", image_size=8, channels=1)
    (tmp_path / "p.txt").write_text("1\nAda 1 3\nBob 2 Ada 2\n")
    pairs = read_pairs(tmp_path / "p.txt", data)
    assert pairs.i.tolist() == [_row(data, "imga.png"), _row(data, "imgb.png") + 3]
    assert pairs.j.tolist() == [_row(data, "imgc.png"), _row(data, "imgb.png")]


def test_folds_header(lfw_like: IdentitySet, tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("2 1\nAda 1 2\nAda 1 Cy 1\nBob_Lee 1 2\nCy 1 Bob_Lee 2\n")
    pairs = read_pairs(path, lfw_like)
    assert pairs.fold.tolist() == [0, 0, 1, 1] and pairs.num_folds == 2
    assert pairs.same.tolist() == [True, False, True, False]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", None, "empty pairs file; the first line must be N or FOLDS N"),
        ("Ada 1 2\n", 1, "header 'Ada 1 2' is not N or FOLDS N"),
        ("0\n", 1, "header '0' is not N or FOLDS N"),
        ("2\nAda 1 2\nAda 1 Cy 1\n", 1, "the header promises 1 fold(s) of 2 same and 2 different pairs (4 lines) but 2 pair lines follow"),
        ("1\nAda 1\nAda 1 Cy 1\n", 2, "expected 'name i j' (same) or 'name1 i name2 j' (different), got 2 fields"),
        ("1\nAda 1 2\nAda 1 Cy 1 x\n", 3, "got 5 fields"),
        ("1\nAdda 1 2\nAda 1 Cy 1\n", 2, "unknown identity 'Adda' (did you mean 'Ada'?)"),
        ("1\nAda 1 4\nAda 1 Cy 1\n", 2, "Ada has no image number 4 (it has 3 images: 1..3)"),
        ("1\nAda 1 2\nAda 1 Cy 0\n", 3, "image number '0' of Cy is not a positive whole number"),
        ("1\nAda one 2\nAda 1 Cy 1\n", 2, "image number 'one' of Ada is not a positive whole number"),
        ("1\nAda 1 2\nAda 1 Ada 3\n", 3, "a different-pair line names Ada twice"),
        ("2 1\nAda 1 2\nAda 1 Cy 1\nCy 1 Ada 2\nAda 1 Bob_Lee 1\n", 4, "fold 2 (from this line) has 0 same pairs, the header says 1"),
    ],
)
def test_errors_name_file_and_line(lfw_like: IdentitySet, tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_pairs(path, lfw_like)
    where = f"{path}, line {line}: " if line is not None else f"{path}: "
    assert str(err.value).startswith(where) and message in str(err.value)


def test_missing_file(lfw_like: IdentitySet, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such pairs file"):
        read_pairs(tmp_path / "nope.txt", lfw_like)


def test_make_pairs_is_balanced_distinct_and_seeded() -> None:
    data = synthetic_set([5, 1, 7, 3, 2], shuffle_seed=2)
    pairs = make_pairs(data, same=12, different=15, generator=torch.Generator().manual_seed(0))
    assert pairs.same.tolist() == [True] * 12 + [False] * 15
    assert torch.equal(data.identities[pairs.i] == data.identities[pairs.j], pairs.same)
    keys = {(min(a, b), max(a, b)) for a, b in zip(pairs.i.tolist(), pairs.j.tolist())}
    assert len(keys) == 27 and all(a != b for a, b in keys)
    again = make_pairs(data, same=12, different=15, generator=torch.Generator().manual_seed(0))
    other = make_pairs(data, same=12, different=15, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again.i, pairs.i) and torch.equal(again.j, pairs.j)
    assert not (torch.equal(other.i, pairs.i) and torch.equal(other.j, pairs.j))


def test_make_pairs_can_use_every_pair() -> None:
    data = synthetic_set([2, 3, 4])
    pairs = make_pairs(data, same=10, different=26, generator=torch.Generator().manual_seed(0))  # all of them
    rows = range(len(data))
    every_same = {(a, b) for a, b in itertools.combinations(rows, 2) if data.identities[a] == data.identities[b]}
    every_diff = {(a, b) for a, b in itertools.combinations(rows, 2) if data.identities[a] != data.identities[b]}
    got = [(min(a, b), max(a, b)) for a, b in zip(pairs.i.tolist(), pairs.j.tolist())]
    assert set(got[:10]) == every_same and set(got[10:]) == every_diff
    with pytest.raises(DataError, match="asked for 11 same-identity pairs but only 10 distinct ones exist"):
        make_pairs(data, same=11, different=0, generator=torch.Generator())
    with pytest.raises(DataError, match="asked for 27 different-identity pairs but only 26 distinct ones exist"):
        make_pairs(data, same=0, different=27, generator=torch.Generator())


def test_write_read_round_trip_folder(lfw_like: IdentitySet, tmp_path: Path) -> None:
    pairs = make_pairs(lfw_like, same=4, different=4, generator=torch.Generator().manual_seed(0))
    path = write_pairs(tmp_path / "pairs.txt", lfw_like, pairs)
    assert path.read_text().splitlines()[0] == "4"
    back = read_pairs(path, lfw_like)
    for name in ("i", "j", "same", "fold"):
        assert torch.equal(getattr(back, name), getattr(pairs, name))


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(3, 5), min_size=3, max_size=6), folds=st.integers(1, 3), seed=st.integers(0, 99))
def test_write_read_round_trip_with_folds(tmp_path_factory: pytest.TempPathFactory, counts: list[int], folds: int, seed: int) -> None:
    data = synthetic_set(counts, names=tuple(f"Person {k}" for k in range(len(counts))), shuffle_seed=seed)
    per = 1 + seed % 2
    made = make_pairs(data, same=per * folds, different=per * folds, generator=torch.Generator().manual_seed(seed))
    # Deal the pairs into folds: fold f gets same pairs f*per.. and different pairs f*per.. (in order).
    order = torch.cat([torch.cat([torch.arange(f * per, (f + 1) * per), per * folds + torch.arange(f * per, (f + 1) * per)]) for f in range(folds)])
    pairs = IndexPairs(made.i[order], made.j[order], made.same[order], torch.arange(folds).repeat_interleave(2 * per))
    path = write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.txt", data, pairs)
    text = path.read_text()
    assert text.splitlines()[0] == (str(per) if folds == 1 else f"{folds}\t{per}") and "Person_" in text and "Person " not in text
    back = read_pairs(path, data)
    for name in ("i", "j", "same", "fold"):
        assert torch.equal(getattr(back, name), getattr(pairs, name))


def test_write_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    data = synthetic_set([3, 3])
    pairs = make_pairs(data, same=2, different=1, generator=torch.Generator().manual_seed(0))
    with pytest.raises(DataError, match="pairs fold 1 has 2 same and 1 different pairs; LFW's format needs 2 of each"):
        write_pairs(tmp_path / "p.txt", data, pairs)
    wrong = IndexPairs(torch.tensor([0, 0]), torch.tensor([1, 4]), torch.tensor([False, True]), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(DataError, match="disagree with the identities"):
        write_pairs(tmp_path / "p.txt", data, wrong)
    clash = synthetic_set([2, 2], names=("Ann Lee", "Ann_Lee"))
    with pytest.raises(DataError, match="differ only by spaces vs underscores"):
        write_pairs(tmp_path / "p.txt", clash, make_pairs(clash, same=1, different=1, generator=torch.Generator()))
    with pytest.raises(DataError, match=r"same must be torch.bool of shape \(2,\)"):
        IndexPairs(torch.tensor([0, 0]), torch.tensor([1, 4]), torch.tensor([0, 1]), torch.zeros(2, dtype=torch.int64))
