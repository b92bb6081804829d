"""Data tests never see the user's cache or the system datasets unless they ask to."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit.data import paths


@pytest.fixture(autouse=True)
def isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$CNNKIT_DATA -> an empty temporary folder; the Debian folder -> a missing path."""
    root = tmp_path / "cnnkit-data"
    monkeypatch.setenv("CNNKIT_DATA", str(root))
    monkeypatch.setattr(paths, "SYSTEM_FASHION_MNIST", tmp_path / "no-system-fashion-mnist")
    return root
