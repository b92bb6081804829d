"""Shared test settings: deterministic, single-threaded torch so tests are repeatable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

torch.set_num_threads(1)  # pytest-xdist runs one worker per core; avoid oversubscription


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[object]], tuple[int, str, str]]:
    """Call the real entry point (cnnkit.cli.app.main) and return (exit code, stdout, stderr)."""
    from cnnkit.cli.app import main

    def call(args: list[object]) -> tuple[int, str, str]:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as stop:
            code = int(stop.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call
