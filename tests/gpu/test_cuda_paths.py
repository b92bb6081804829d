"""cnnkit's CUDA paths, run for real on a GPU (issue 19): skipped without one.

Every zoo model forward and backward in bf16 autocast (and channels_last for 2-D models),
a few training steps of each task, a seeded run repeated, resume and torch.compile on CUDA,
DDP over NCCL with one process. benchmarks/gpu_suite.sh runs these first on the lent GPU;
on a CPU-only machine (CI) pytest reports them as skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.cuda

TINY = dict(data="digits", limit=400, epochs=2, batch_size=64, progress=False, quiet=True, device="cuda")
TIMING = {"seconds", "images_per_s", "eval_seconds"}


def _zoo() -> list[tuple[str, tuple[int, ...]]]:
    from cnnkit.nn.build import list_models

    return [(entry.name, tuple(entry.input_shape)) for entry in list_models()]


@pytest.mark.parametrize(("name", "shape"), _zoo(), ids=[n for n, _ in _zoo()])
def test_every_zoo_model_runs_forward_and_backward_in_bf16(name: str, shape: tuple[int, ...]) -> None:
    from cnnkit import build

    model = build(name, num_classes=10).cuda().train()
    x = torch.randn(2, *shape, device="cuda")
    if x.dim() == 4:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)
    loss = torch.nn.functional.cross_entropy(out.float(), torch.tensor([1, 2], device="cuda"))
    loss.backward()
    assert out.shape == (2, 10) and torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_training_on_cuda_learns_and_the_device_says_so(tmp_path: Path) -> None:
    import cnnkit

    result = cnnkit.train("quicknet", out=tmp_path / "r", **TINY)
    assert result.device.startswith("cuda") and "bf16" in result.device
    assert result.test_accuracy is not None and result.test_accuracy > 0.5


def test_a_seeded_cuda_run_repeats(tmp_path: Path) -> None:
    import cnnkit

    runs = [cnnkit.train("quicknet", out=tmp_path / name, seed=3, **TINY) for name in ("a", "b")]
    first, second = ([{k: v for k, v in r.items() if k not in TIMING} for r in run.metrics] for run in runs)
    # cuDNN may pick other algorithms between runs: the documented tolerance, not bit equality
    for a, b in zip(first, second):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-2)
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=0.02)


def test_resume_on_cuda_ends_like_an_uninterrupted_run(tmp_path: Path, ctrl_c_at_epoch: Callable) -> None:
    import cnnkit

    whole = cnnkit.train("quicknet", out=tmp_path / "whole", seed=1, **TINY)
    with ctrl_c_at_epoch(2), pytest.raises(KeyboardInterrupt):
        cnnkit.train("quicknet", out=tmp_path / "cut", seed=1, **TINY)
    resumed = cnnkit.train(out=tmp_path / "cut", resume=True, progress=False, quiet=True)
    assert len(resumed.metrics) == 2
    assert resumed.test_accuracy == pytest.approx(whole.test_accuracy, abs=0.03)


def test_compile_on_cuda(tmp_path: Path) -> None:
    import cnnkit

    result = cnnkit.train("quicknet", out=tmp_path / "c", compile=True, **TINY)
    assert result.test_accuracy is not None and result.test_accuracy > 0.5


def test_ddp_over_nccl_with_one_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "-m", "cnnkit", "train", "--data",
         "digits", "--limit", "400", "--epochs", "1", "--device", "cuda", "--out", str(out), "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["device"].startswith("cuda")


def test_detect_faces_and_style_take_a_few_steps_on_cuda(tmp_path: Path, run_cli: Callable) -> None:
    import numpy as np
    from PIL import Image

    code, out, err = run_cli(["detect", "train", "--scenes", "64", "--val-scenes", "8", "--test-scenes", "8",
                              "--epochs", "1", "--device", "cuda", "--out", tmp_path / "det", "--json"])  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(["faces", "train", "--epochs", "1", "--per-identity", "40", "--pairs", "50",
                              "--device", "cuda", "--out", tmp_path / "faces", "--json"])  # fmt: skip
    assert code == 0, err
    rng = np.random.default_rng(0)
    for name in ("content", "style"):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    code, out, err = run_cli(["style", tmp_path / "content.png", tmp_path / "style.png", "-o", tmp_path / "st.png",
                              "--size", "64", "--steps", "5", "--allow-random-weights", "--device", "cuda", "--json"])  # fmt: skip
    assert code == 0, err
    assert "cuda" in json.loads(out).get("device", "cuda")
