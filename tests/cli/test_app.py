"""The CLI frame: help with examples, and user errors as one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnnkit.cli.app import main
from cnnkit.cli.common import parse_shape
from cnnkit.errors import CnnkitError


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Examples" in out and "cnnkit summary" in out


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "No such command" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cnnkit", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Usage: cnnkit" in done.stdout


@pytest.mark.parametrize(
    ("text", "shape"),
    [("3x224x224", (3, 224, 224)), ("1x40", (1, 40)), ("1,16,32,32", (1, 16, 32, 32)), ("3X32X32", (3, 32, 32))],
)
def test_parse_shape(text: str, shape: tuple[int, ...]) -> None:
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["", "abc", "3x0x4", "3x-1", "x"])
def test_parse_shape_rejects_nonsense(text: str) -> None:
    with pytest.raises(CnnkitError, match="not a shape"):
        parse_shape(text)


def test_run_directory_from_out_name_or_the_next_free_number(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from cnnkit.cli.common import run_directory

    assert run_directory(Path("x/y"), None, stem="s", root=tmp_path) == Path("x/y")
    assert run_directory(None, "mine", stem="s", root=tmp_path) == tmp_path / "mine"
    (tmp_path / "fashion-mnist-quicknet-1").mkdir()
    assert run_directory(None, None, stem="Fashion-MNIST quicknet", root=tmp_path) == tmp_path / "fashion-mnist-quicknet-2"
    with pytest.raises(CnnkitError, match="not both"):
        run_directory(Path("a"), "b", stem="s", root=tmp_path)
