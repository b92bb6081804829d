"""report.md: every section there, numbers computed from the inputs (explicit formulas)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from runfactory import make_run

from cnnkit.train.plots import confusion_counts
from cnnkit.train.report import write_report


@dataclass
class FakeEval:
    accuracy: float
    loss: float
    per_class_accuracy: list[float]
    confusion: torch.Tensor
    num_samples: int
    seconds: float


def _fake_eval(y: torch.Tensor, p: torch.Tensor, classes: int) -> FakeEval:
    counts = confusion_counts(y, p, classes)
    per_class = [float(counts[i, i] / max(int(counts[i].sum()), 1)) for i in range(classes)]
    return FakeEval(float((y == p).float().mean()), 0.5, per_class, counts, len(y), 0.25)


def test_report_contents(tmp_path: Path) -> None:
    run, model, info = make_run(tmp_path / "myrun", epochs=3)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    p = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    test = _fake_eval(y, p, 3)
    tta = _fake_eval(y, y, 3)
    config = {"model": "spec", "data": "tiny", "epochs": 3, "lr": 0.1}
    command = "cnnkit train 'INPUT(1x8x8) -> FC(3)' --data tiny --epochs 3"
    path = write_report(
        run, test=test, info=info, config=config, tta=tta, model=model, command=command, device="cpu",
        split_sizes={"train": 90, "val": 10, "test": 10}, date=datetime(2025, 1, 2, 3, 4, tzinfo=timezone.utc),
    )
    text = path.read_text()
    assert text.startswith("# myrun: spec model on tiny")
    assert "Trained 2025-01-02 03:04 UTC on cpu" in text
    assert f"```bash\n{command}\n```" in text
    assert f"**{7 / 10 * 100:.2f}%** (10 samples)" in text
    assert f"flip test-time augmentation | {100:.2f}%" in text
    assert "at epoch 3 of 3" in text  # the factory's val_acc rises every epoch
    assert "| Training time | 6.0 s (3 epochs) |" in text  # 3 epochs of 2.0 s
    assert "| Training throughput | 1,000 samples/s |" in text
    params = sum(t.numel() for t in model.parameters())
    assert f"spec model, {params:,} parameters" in text
    assert "train 90, val 10, test 10" in text
    assert "INPUT(1x8x8) -> CONV(4, k=3)" in text  # the architecture is shown
    # per-class rows: cat 3/4, dog 2/3 (mistaken for bird once), bird 2/3 (for cat once)
    assert f"| cat | 4 | {75:.2f}% | dog (1) |" in text
    assert f"| dog | 3 | {200 / 3:.2f}% | bird (1) |" in text
    assert f"| bird | 3 | {200 / 3:.2f}% | cat (1) |" in text
    assert "![loss and accuracy per epoch](curves.png)" in text
    assert "(confusion.png)" in text
    block = text.split("```json\n")[1].split("```")[0]
    assert json.loads(block) == config
    for name in ("curves.png", "confusion.png"):
        assert (run.path / name).stat().st_size > 5000


def test_report_without_optional_parts(tmp_path: Path) -> None:
    run, _, info = make_run(tmp_path / "r", epochs=0)
    y = torch.tensor([0, 1, 2])
    text = write_report(run, test=_fake_eval(y, y, 3), info=info, config={"model": "resnet20"}, plots=False).read_text()
    assert text.startswith("# r: resnet20 on tiny")
    assert "test-time augmentation" not in text and "Best validation" not in text
    assert "| Training time | 0.0 s (0 epochs) |" in text
    assert not (run.path / "curves.png").exists()


def test_report_names_the_source_of_a_fine_tuned_run(tmp_path: Path) -> None:
    run, _, info = make_run(tmp_path / "ft", epochs=1)
    y = torch.tensor([0, 1, 2])
    transfer = {
        "source": {"type": "run", "source": "runs/fmnist", "architecture": "quicknet", "dataset": "fashion-mnist"},
        "per_class": 10,
        "frozen": {"frozen_layers": ["features.stage1.conv1", "features.stage1.conv2"], "weighted_layers": 6},
    }
    config = {"model": "quicknet", "transfer": transfer}
    text = write_report(run, test=_fake_eval(y, y, 3), info=info, config=config, plots=False).read_text()
    assert (
        "| Fine-tuned from | runs/fmnist (quicknet on fashion-mnist), 2 of 6 weighted layers frozen, "
        "10 labelled examples per class |" in text
    )
    scratch = write_report(run, test=_fake_eval(y, y, 3), info=info, config={"model": "quicknet"}, plots=False)
    assert "Fine-tuned from" not in scratch.read_text()


def test_report_shows_the_architecture_as_trained(tmp_path: Path) -> None:
    # Issue 13 item 14: a spec's FC(10) trained on 3 classes is FC(3) in the report.
    import cnnkit

    written = "INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> FC(10)"
    model = cnnkit.build(written, num_classes=3)  # what the trainer builds for 3 classes
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    run, _, info = make_run(tmp_path / "r", model=model, epochs=1)
    y = torch.tensor([0, 1, 2])
    text = write_report(run, test=_fake_eval(y, y, 3), info=info, config={"model": written}, model=model,
                        notes=["the spec's last layer FC(10) is trained as FC(3): tiny has 3 classes"], plots=False).read_text()
    assert "Architecture (as trained):\n\n```\nINPUT(1x8x8) -> CONV(4, k=3) -> RELU -> FC(3)\n```" in text
    assert "- the spec's last layer FC(10) is trained as FC(3): tiny has 3 classes" in text


def test_report_warns_when_the_run_is_no_better_than_chance(tmp_path: Path) -> None:
    run, _, info = make_run(tmp_path / "r", epochs=2)
    y = torch.tensor([0, 1, 2] * 5)
    at_chance = _fake_eval(y, torch.zeros_like(y), 3)  # always class 0: 1/3, chance for 3 classes
    config = {"model": "quicknet", "lr": 0.4, "batch_size": 512}
    text = write_report(run, test=at_chance, info=info, config=config, plots=False).read_text()
    assert f"**warning: test accuracy {1 / 3:.1%} is no better than chance ({1 / 3:.1%} for 3 classes)" in text
    good = write_report(run, test=_fake_eval(y, y, 3), info=info, config=config, plots=False).read_text()
    assert "no better than chance" not in good
