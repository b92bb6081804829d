"""The trainer writes a complete run directory; load_run and predict give back its model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tinydata import tiny_splits

from cnnkit.data.tensordata import DatasetInfo, Splits, TensorSplit
from cnnkit.train.predict import Prediction, predict
from cnnkit.train.run import load_run

SPEC = "INPUT(1x8x8) -> CONV(4, k=3, p=same) -> BN -> RELU -> POOL(2) -> FC(3)"
CLASSES = ("row", "column", "diagonal")


def _bars(n: int, seed: int) -> TensorSplit:
    """uint8 (n, 1, 8, 8): a bright row, column or diagonal on noise; labels 0..2."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 60, (n, 1, 8, 8), generator=g)
    where = torch.randint(0, 8, (n,), generator=g)
    for i in range(n):
        k = int(where[i])
        if y[i] == 0:
            x[i, 0, k, :] = 250
        elif y[i] == 1:
            x[i, 0, :, k] = 250
        else:
            x[i, 0].diagonal().fill_(250)
    return TensorSplit(x.to(torch.uint8), y)


def test_trained_run_directory(tmp_path: Path) -> None:
    from cnnkit.train.trainer import train

    info = DatasetInfo("bars", "image", (1, 8, 8), CLASSES, (0.2,), (0.3,), flip_ok=False, source="a test")
    splits = Splits(_bars(96, 0), _bars(24, 1), _bars(24, 2), info)
    out = tmp_path / "bars-run"
    result = train(SPEC, splits, out=out, epochs=3, batch_size=16, lr=0.05, device="cpu", quiet=True,
                   command="pytest bars")
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "metrics.jsonl", "curves.png", "confusion.png", "report.md"} <= names

    loaded = load_run(out)
    assert loaded.classes == CLASSES and loaded.input_shape == (1, 8, 8)
    assert [m["epoch"] for m in loaded.metrics] == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["epochs"] == 3
    x = info.normalize(splits.test.x)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), result.model.cpu().eval()(x), atol=1e-6)

    report = (out / "report.md").read_text()
    assert f"**{result.test.accuracy * 100:.2f}%**" in report and "pytest bars" in report

    # predict reads a PNG of a test image and agrees with the model on the tensor
    image = splits.test.x[0, 0].numpy()
    Image.fromarray(image, mode="L").save(tmp_path / "sample.png")
    (first,) = predict(loaded, [tmp_path / "sample.png"], topk=1)
    assert isinstance(first, Prediction)
    with torch.no_grad():
        expected = int(loaded.model(x[:1]).argmax())
    assert first.top[0][0] == CLASSES[expected]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "sample.png")), image)


def test_eval_reproduces_the_trainers_test_figures(tmp_path: Path) -> None:
    """evaluate_run rebuilds the same seeded test split and runtime as the training run."""
    from cnnkit.train.predict import evaluate_run
    from cnnkit.train.trainer import train

    spec = "INPUT(1x8x8) -> CONV(8, k=3, p=same) -> BN -> RELU -> POOL(2) -> FC(10)"
    result = train(spec, "digits", out=tmp_path / "d", epochs=1, batch_size=32, limit=300, seed=5,
                   val_fraction=0.2, device="cpu", quiet=True)
    ev = evaluate_run(tmp_path / "d", device="cpu")
    assert ev.data == "digits" and ev.result.num_samples == result.test.num_samples
    assert torch.equal(ev.result.confusion, result.test.confusion)
    assert ev.result.accuracy == result.test.accuracy


def test_a_zoo_model_with_custom_arguments_trains_saves_and_loads(tmp_path: Path) -> None:
    """cnnkit.build records widths=..., so the run rebuilds the same (non-default) model."""
    import cnnkit
    from cnnkit.train.run import load_run
    from cnnkit.train.trainer import train

    model = cnnkit.build("quicknet", num_classes=3, in_channels=1, widths=(4, 6))
    train(model, tiny_splits(), out=tmp_path / "q", epochs=1, batch_size=32, device="cpu", quiet=True)
    loaded = load_run(tmp_path / "q")
    assert loaded.metadata.builder_kwargs["widths"] == [4, 6]
    assert loaded.model.features.stage2.conv1.out_channels == 6


def test_a_model_the_run_cannot_rebuild_fails_before_training(tmp_path: Path) -> None:
    import pytest
    from torch import nn

    import cnnkit
    from cnnkit.errors import RunError
    from cnnkit.train.trainer import train

    model = cnnkit.build("quicknet", num_classes=3, in_channels=1, widths=(4, 6))
    model.features.stage2.conv2 = nn.Conv2d(6, 6, 5, padding=2, bias=False)  # edited by hand
    with pytest.raises(RunError, match="do not fit"):
        train(model, tiny_splits(), out=tmp_path / "bad", epochs=1, device="cpu", quiet=True)
    assert not (tmp_path / "bad" / "metrics.jsonl").exists()
