"""benchmarks/gpu_suite.sh on a machine without a CUDA GPU: it says so, writes its JSON and exits 0."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the dry run is for machines without a GPU")
def test_the_suite_detects_the_missing_gpu(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no CUDA GPU visible" in done.stdout
    assert json.loads((tmp_path / "gpu_suite.json").read_text()) == {"gpu": None}
