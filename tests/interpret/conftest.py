"""Fixtures for the interpret tests: a small trained run on real data, and its subject.

``digits_run``: scikit-learn's bundled 8x8 digits upscaled to 1x16x16 (no download), a
two-conv spec network trained for a few epochs (about 95% test accuracy, a few seconds),
written as a real run directory so the CLI and ``test:N`` references work on it. One per
test session (xdist worker); treat it as read-only and write pictures under tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit.interpret.subject import Subject, open_subject

SPEC = (
    "INPUT(1x16x16) -> CONV(8, k=3) -> BN -> RELU -> POOL(2)"
    " -> CONV(16, k=3) -> BN -> RELU -> POOL(2) -> FC(10)"
)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cnnkit

    out = tmp_path_factory.mktemp("interpret") / "digits-run"
    cnnkit.train(
        SPEC, "digits", out=out, quiet=True, progress=False, epochs=8, batch_size=64, lr=0.05,
        input_shape=(1, 16, 16), augment="none", tta_flip=False, seed=0, device="cpu",
    )
    return out


@pytest.fixture(scope="session")
def digits_subject(digits_run: Path) -> Subject:
    """The run opened on the CPU (shared: do not modify the model)."""
    return open_subject(digits_run, device="cpu")

