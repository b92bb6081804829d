"""Atomic writes leave either the old file or the new one, and no temporary files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnkit import atomic


def test_write_json_and_text_replace_the_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "config.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    atomic.write_bytes(target, b"old")

    def broken(tmp: str) -> None:
        Path(tmp).write_bytes(b"half")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        atomic._atomic(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_save_tensors_round_trip(tmp_path: Path) -> None:
    tensors = {"w": torch.arange(6.0).view(2, 3).t(), "b": torch.ones(3, dtype=torch.int64)}
    path = atomic.save_tensors(tmp_path / "t.safetensors", tensors, metadata={"k": "v"})
    loaded = load_file(path)
    torch.testing.assert_close(loaded["w"], tensors["w"])
    torch.testing.assert_close(loaded["b"], tensors["b"])


def test_written_files_get_the_umask_mode_not_a_private_one(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        written = atomic.write_text(tmp_path / "report.md", "hi")
        plain = tmp_path / "plain.txt"
        plain.write_text("hi")  # what open() gives under the same umask
    finally:
        os.umask(old)
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644


def test_errors_name_the_file_asked_for_not_the_temporary_one(tmp_path: Path) -> None:
    from cnnkit.atomic import write_text

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OSError) as caught:
        write_text(blocker / "x.png", "data")  # the folder cannot be made: a file is in the way
    assert caught.value.filename == str(blocker / "x.png")
    (tmp_path / "plots").mkdir()
    with pytest.raises(OSError) as caught:
        write_text(tmp_path / "plots", "data")  # the rename meets a folder
    assert caught.value.filename == str(tmp_path / "plots")
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []  # nothing left behind
