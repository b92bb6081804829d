"""Make small run directories by hand (no trainer): a spec model, metadata, metrics."""

from __future__ import annotations

from pathlib import Path

import torch

import cnnkit
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.train.run import ModelMetadata, RunDir

SPEC = "INPUT(1x8x8) -> CONV(4, k=3) -> BN -> RELU -> POOL(2) -> FC(3)"
CLASSES = ("cat", "dog", "bird")


def tiny_info(*, classes: tuple[str, ...] = CLASSES, shape: tuple[int, ...] = (1, 8, 8)) -> DatasetInfo:
    return DatasetInfo(
        name="tiny", kind="image", input_shape=shape, classes=classes,
        mean=(0.25,) * shape[0], std=(0.5,) * shape[0], flip_ok=True, source="made in a test",
    )


def tiny_model(seed: int = 0, spec: str = SPEC) -> torch.nn.Module:
    """A spec model whose BN running statistics are not the defaults (one train-mode pass)."""
    torch.manual_seed(seed)
    model = cnnkit.build(spec)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, *model.input_shape) * 2 + 1)
    return model.eval()


def make_run(path: Path, *, model: torch.nn.Module | None = None, info: DatasetInfo | None = None,
             epochs: int = 3) -> tuple[RunDir, torch.nn.Module, DatasetInfo]:
    model = model if model is not None else tiny_model()
    info = info or tiny_info()
    run = RunDir.create(path)
    run.write_config({"model": SPEC, "data": "tiny", "seed": 0, "val_fraction": 0.1, "limit": None})
    for epoch in range(1, epochs + 1):
        run.append_metrics({
            "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": 0.5 + 0.1 * epoch,
            "val_loss": 1.1 / epoch, "val_acc": 0.45 + 0.1 * epoch, "lr": 0.1, "seconds": 2.0,
            "images_per_s": 1000.0,
        })
    run.save_model(model, ModelMetadata.describe(model, info))
    return run, model, info
