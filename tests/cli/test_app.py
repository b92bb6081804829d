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


# --- main(): one line and the right exit status for everything a user can cause ---


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


@pytest.fixture
def probe():  # type: ignore[no-untyped-def]
    """Add a hidden command `probe` that runs the function the test sets: probe.body = f."""
    import types

    from cnnkit.cli.app import app

    holder = types.SimpleNamespace(body=lambda: None)

    @app.command("probe", hidden=True)
    def probe_command() -> None:
        holder.body()

    yield holder
    app.registered_commands.pop()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "--epochs", "0"], ["'--epochs'", "greater than or equal to 1", "see cnnkit train --help"]),
        (["train", "--lr", "nan"], ["'--lr'", "'nan' is not a finite number"]),
        (["train", "--label-smoothing", "inf"], ["'--label-smoothing'", "'inf' is not a finite number"]),
        (["summary", "--bogus"], ["No such option: --bogus", "see cnnkit summary --help"]),
        (["no-such-command"], ["No such command", "see cnnkit --help"]),
    ],
)
def test_usage_errors_are_one_line(args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(word in err for word in words), err
    assert "greater than or equal to 0" not in err  # what typer said for nan


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["summary", "-h"]])
def test_help_still_exits_0(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(args, capsys)
    assert code == 0 and out.startswith("Usage: cnnkit")


@pytest.mark.parametrize("args", [[], ["interpret"]])
def test_no_arguments_show_help_with_status_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(args, capsys)
    assert code == 2 and "Usage: cnnkit" in out + err and "Commands" in out + err


def test_a_normal_run_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["summary", "INPUT(1x8x8) -> CONV(2, k=3) -> FC(2)"], capsys)
    assert code == 0 and "Parameters" in out


def test_typer_exit_code_passes_through(probe, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    import typer

    def exit_1() -> None:
        raise typer.Exit(1)

    probe.body = exit_1
    assert run_main(["probe"], capsys)[0] == 1


def test_ctrl_c_in_a_command_says_interrupted(probe, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    def interrupted() -> None:
        raise KeyboardInterrupt

    probe.body = interrupted
    code, _, err = run_main(["probe"], capsys)
    assert code == 130 and err == "interrupted\n"


def test_a_second_copy_of_the_same_ctrl_c_does_not_cut_the_exit_short(probe, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    # `timeout -s INT` signals the process and then its group: two SIGINTs at once
    import os
    import signal
    import time

    def signalled_twice() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the copy arrives while cleaning up
            raise

    probe.body = signalled_twice
    # Python's own handler to start with: a shell that starts pytest in the background
    # (`cmd &`) hands it SIGINT ignored, and main() rightly puts back whatever it found
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = run_main(["probe"], capsys)
        assert code == 130 and err == "interrupted\n"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back after main()
    finally:
        signal.signal(signal.SIGINT, outer)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (FileNotFoundError(2, "No such file or directory", "/proc/run"), ["'/proc/run'", "No such file or directory"]),
        (IsADirectoryError(21, "Is a directory", "/tmp/.x.png.ab12cd34.tmp", None, "plots"), ["'plots'", "not a folder"]),
        (NotADirectoryError(20, "Not a directory", "afile/x"), ["'afile/x'", "is a file, not a folder"]),
        (PermissionError(13, "Permission denied", "/root/x"), ["'/root/x'", "Permission denied", "may read or write"]),
        (MemoryError(), ["out of memory", "smaller"]),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 120000000000 bytes"), ["out of memory"]),
    ],
)
def test_path_and_memory_errors_are_one_line(error: BaseException, words: list[str], probe, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    def fail() -> None:
        raise error

    probe.body = fail
    code, _, err = run_main(["probe"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert all(word in err for word in words), err
    with pytest.raises(type(error)):  # --debug shows the traceback instead
        main(["--debug", "probe"])


def test_torch_out_of_memory_is_one_line(probe, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    import torch

    def fail() -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    probe.body = fail
    code, _, err = run_main(["probe"], capsys)
    assert code == 2 and err.startswith("error: out of memory")


@pytest.mark.parametrize(
    "error",
    [RuntimeError("mat1 and mat2 shapes cannot be multiplied"), OSError("no filename"), ValueError("a bug"), FileNotFoundError("no filename either")],
)
def test_genuine_bugs_keep_their_traceback(error: BaseException, probe) -> None:  # type: ignore[no-untyped-def]
    def fail() -> None:
        raise error

    probe.body = fail
    with pytest.raises(type(error)):
        main(["probe"])


def test_unwritable_out_path_is_one_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    afile = tmp_path / "afile"
    afile.write_text("")
    args = ["train", "--data", "digits", "--limit", "64", "--epochs", "1", "--out", str(afile / "run")]
    code, _, err = run_main(args, capsys)
    assert code == 2 and err.count("\n") == 1
    assert str(afile / "run") in err and "Not a directory" in err
