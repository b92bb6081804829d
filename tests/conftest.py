"""Shared test settings: deterministic, single-threaded torch so tests are repeatable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

torch.set_num_threads(1)  # pytest-xdist runs one worker per core; avoid oversubscription


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` are skipped, with the reason, where no CUDA GPU is visible."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run benchmarks/gpu_suite.sh on one)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture
def cli_error(run_cli: Callable[[list[object]], tuple[int, str, str]]) -> Callable[[list[object]], str]:
    """Call the CLI with arguments that must fail before any work: exit status 2, nothing on
    stdout, and exactly one ``error: ...`` line on stderr, which is returned."""

    def call(args: list[object]) -> str:
        code, out, err = run_cli(args)
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
        return lines[0]

    return call


@pytest.fixture
def ctrl_c_at_epoch() -> Callable[[int], Any]:
    """``with ctrl_c_at_epoch(2): train(...)``: the trainer gets a KeyboardInterrupt (Ctrl-C)
    as epoch 2 starts, so epoch 1's checkpoint is on disk (``ctrl_c_at_epoch(1)``: none)."""
    from contextlib import contextmanager

    from cnnkit.train import loop

    @contextmanager
    def interrupting(epoch: int) -> Iterator[None]:
        real = loop.EpochRunner.run_epoch

        def run_epoch(self: Any, number: int) -> Any:
            if number == epoch:
                raise KeyboardInterrupt
            return real(self, number)

        loop.EpochRunner.run_epoch = run_epoch  # type: ignore[method-assign]
        try:
            yield
        finally:
            loop.EpochRunner.run_epoch = real  # type: ignore[method-assign]

    return interrupting
