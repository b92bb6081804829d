"""`cnnkit --version`: the installed distribution's version, else cnnkit.__version__."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

import pytest

import cnnkit


def test_version_is_the_installed_distributions(run_cli: Callable[[list[object]], tuple[int, str, str]]) -> None:
    code, out, err = run_cli(["--version"])
    assert (code, out, err) == (0, f"cnnkit {importlib.metadata.version('cnnkit')}\n", "")


def test_version_falls_back_to_the_package_attribute(
    run_cli: Callable[[list[object]], tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str) -> str:  # a source tree that is not installed
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    code, out, _ = run_cli(["--version"])
    assert (code, out) == (0, f"cnnkit {cnnkit.__version__}\n")


def test_version_goes_before_any_command(run_cli: Callable[[list[object]], tuple[int, str, str]]) -> None:
    # eager: it answers even where a command would need arguments
    code, out, _ = run_cli(["--version", "summary"])
    assert code == 0 and out.startswith("cnnkit ")
