"""One process at a time trains or resumes a run directory (RunDir.hold, a flock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit.errors import RunError
from cnnkit.train.run import RunDir
from cnnkit.train.trainer import train

SPEC = "INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> GAP -> FC"
FAST = {"batch_size": 32, "augment": "none", "progress": False, "quiet": True, "limit": 128, "device": "cpu"}


def _train_digits(out: Path) -> None:
    train(SPEC, "digits", out=out, epochs=1, **FAST)


def test_a_run_in_use_is_refused_and_free_again_afterwards(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train_digits(out)
    other = RunDir(out)
    other.hold()  # stands for another process training it (flock: another open file conflicts)
    with pytest.raises(RunError, match="in use by another cnnkit process"):
        train(out=out, resume=True, more=1, progress=False, quiet=True)  # a finished run: train it more
    with pytest.raises(RunError, match="in use"):
        RunDir(out).hold()
    other.release()
    train(out=out, resume=True, more=1, progress=False, quiet=True)  # free again
    after = RunDir(out)
    after.hold()  # train released it when it returned
    after.release()


def test_a_failed_resume_releases_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train_digits(out)
    (out / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):  # noqa: B017 -- whatever the error, the lock must go
        train(out=out, resume=True, progress=False, quiet=True)
    probe = RunDir(out)
    probe.hold()
    probe.release()
