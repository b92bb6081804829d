"""The trainer on a tiny in-memory problem: it learns, repeats under a seed, guards NaN."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from tinydata import NO_BN_CNN, SMALL_CNN, tiny_splits

from cnnkit.errors import CnnkitError, RunError
from cnnkit.train import loop
from cnnkit.train.checkpoint import load_checkpoint
from cnnkit.train.trainer import train

FAST = dict(batch_size=32, augment="none", progress=False, quiet=True)
TIMING = {"seconds", "images_per_s", "eval_seconds"}


def deterministic(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMING} for m in metrics]


@pytest.mark.parametrize("optimizer, schedule", [("sgd", "onecycle"), ("adamw", "cosine")])
def test_it_learns(optimizer: str, schedule: str) -> None:
    lr = 0.1 if optimizer == "sgd" else 0.01
    result = train(NO_BN_CNN, tiny_splits(), epochs=4, lr=lr, optimizer=optimizer, schedule=schedule, **FAST)
    assert result.test is not None and result.test.accuracy >= 0.9  # chance is 1/3
    assert result.metrics[-1]["train_loss"] < result.metrics[0]["train_loss"]
    assert [m["epoch"] for m in result.metrics] == [1, 2, 3, 4]
    assert all(m["images_per_s"] > 0 for m in result.metrics)
    assert not result.model.training


def test_seeded_runs_are_identical_and_seeds_matter() -> None:
    # light augmentation (translation) and bf16 autocast where the CPU has it: both seeded
    options = dict(FAST, augment="light", epochs=2, lr=0.05)
    first = train(SMALL_CNN, tiny_splits(), seed=3, **options)
    second = train(SMALL_CNN, tiny_splits(), seed=3, **options)
    other = train(SMALL_CNN, tiny_splits(), seed=4, **options)
    assert deterministic(first.metrics) == deterministic(second.metrics)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert deterministic(first.metrics) != deterministic(other.metrics)


def test_run_directory_is_complete_and_loads(tmp_path: Path) -> None:
    from cnnkit.train.run import load_run

    out = tmp_path / "run"
    result = train(NO_BN_CNN, tiny_splits(), out=out, epochs=2, lr=0.1, command="cnnkit train test", **FAST)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.jsonl", "model.safetensors", "checkpoint.safetensors", "report.md", "curves.png", "confusion.png"} <= names
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == NO_BN_CNN and config["epochs"] == 2 and config["seed"] == 0
    loaded = load_run(out)
    for a, b in zip(result.model.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)
    assert loaded.info.classes == result.info.classes
    assert "cnnkit train test" in (out / "report.md").read_text()
    with pytest.raises(RunError, match="already holds a finished run"):
        train(NO_BN_CNN, tiny_splits(), out=out, epochs=1, **FAST)


def test_nan_loss_stops_with_advice_and_keeps_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = loop.make_loss
    calls = {"n": 0}

    def poisoned(smoothing: float):
        inner = real(smoothing)

        def loss_fn(logits, target):
            calls["n"] += 1
            loss = inner(logits, target)
            return loss * float("inf") if calls["n"] == 10 else loss  # epoch 2 (7 steps per epoch), step 3

        return loss_fn

    monkeypatch.setattr(loop, "make_loss", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(RunError, match=r"loss became inf at epoch 2, step 3 of 7.*epoch 1 .*intact.*--lr.*--grad-clip"):
        train(NO_BN_CNN, tiny_splits(), out=out, epochs=3, lr=0.1, **FAST)
    import cnnkit

    model = cnnkit.build(NO_BN_CNN, num_classes=3)
    state = load_checkpoint(out, model, None)
    assert state is not None and state["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_a_diverging_learning_rate_is_caught() -> None:
    with pytest.raises(RunError, match="loss became nan at epoch 1"):
        train(NO_BN_CNN, tiny_splits(), epochs=2, lr=1e5, schedule="constant", warmup_epochs=0, **FAST)


def test_early_stopping_when_validation_stalls() -> None:
    # A learning rate this small changes no prediction, so validation accuracy never improves.
    result = train(NO_BN_CNN, tiny_splits(), epochs=5, lr=1e-9, schedule="constant", early_stopping=1, **FAST)
    assert result.stopped_early
    assert len(result.metrics) == 2


def test_frozen_layers_stay_put_and_a_zoo_name_trains() -> None:
    import cnnkit

    torch.manual_seed(0)
    model = cnnkit.build(NO_BN_CNN, num_classes=3)
    for p in model.features.parameters():
        p.requires_grad_(False)
    before = [p.clone() for p in model.features.parameters()]
    train(model, tiny_splits(), epochs=1, lr=0.1, **FAST)
    assert all(torch.equal(a, b) for a, b in zip(before, model.features.parameters()))

    result = train("resnet20", tiny_splits(60, 0, 20), epochs=1, lr=0.05, **FAST)  # in_channels from the data
    assert result.test is not None and result.metrics[0]["val_acc"] is None


def test_option_errors() -> None:
    with pytest.raises(CnnkitError, match="did you mean 'epochs'"):
        train(NO_BN_CNN, tiny_splits(), epohcs=2, **FAST)
    with pytest.raises(RunError, match="keeps the settings"):
        train(out="runs/x", resume=True, epochs=3)
    with pytest.raises(RunError, match="nothing to resume"):
        train(out="/nonexistent/run", resume=True)
    with pytest.raises(CnnkitError, match="cannot take blobs's 1x8x8 samples.*--input"):
        train("alexnet", tiny_splits(), epochs=1, **FAST)  # AlexNet needs large inputs


def test_rich_progress_bar_runs_and_prints_epoch_lines(capsys: pytest.CaptureFixture[str]) -> None:
    options = dict(FAST, progress=True, quiet=False)
    train(NO_BN_CNN, tiny_splits(), epochs=2, lr=0.1, **options)
    err = capsys.readouterr().err
    assert "epoch 1/2  loss" in err and "epoch 2/2  loss" in err and "test accuracy" in err


def test_flip_tta_only_where_a_mirror_image_keeps_the_label() -> None:
    splits = tiny_splits()  # flip_ok is False: like digits, a mirrored image is another class
    result = train(NO_BN_CNN, splits, epochs=1, tta_flip=True, **FAST)
    assert result.test is not None and result.test_tta is None
    flippable = dataclasses.replace(splits, info=dataclasses.replace(splits.info, flip_ok=True))
    result = train(NO_BN_CNN, flippable, epochs=1, tta_flip=True, **FAST)
    assert result.test_tta is not None
    assert train(NO_BN_CNN, flippable, epochs=1, tta_flip=True, flips=False, **FAST).test_tta is None


def test_flips_overrides_the_datasets_say_and_is_kept_with_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cnnkit.train.run import load_run

    splits = tiny_splits()  # flip_ok False
    train(NO_BN_CNN, splits, epochs=1, tta_flip=True, **dict(FAST, progress=True, quiet=False))
    assert "no flip TTA" in capsys.readouterr().err  # asked for, not done: said, not silent
    out = tmp_path / "run"
    result = train(NO_BN_CNN, splits, out=out, epochs=1, tta_flip=True, flips=True, **FAST)
    assert result.test_tta is not None
    assert load_run(out).info.flip_ok is True  # predict's TTA follows the run's own say
    assert json.loads((out / "config.json").read_text())["flips"] is True
