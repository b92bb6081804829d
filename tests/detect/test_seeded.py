"""The same --seed gives the same detector and localizer: initial weights come from an explicit
torch.Generator (cnnkit.nn.seeded_init), never from torch's global generator."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from cnnkit.nn.seeded_init import init_from_generator
from cnnkit.detect.yolo_model import build_yolo
from cnnkit.errors import ModelError

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
SPEC = "INPUT(1x32x32) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(10)"


def test_init_draws_torch_default_scheme_from_the_generator_only() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    with torch.no_grad():
        model[1].weight.fill_(5.0)
        model[1].running_mean.fill_(2.0)
    state = torch.get_rng_state()
    init_from_generator(model, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not used
    # reference: torch's own init functions, drawing from the same seed in module order
    g = torch.Generator().manual_seed(7)
    conv_w = nn.init.kaiming_uniform_(torch.empty(8, 3, 3, 3), a=math.sqrt(5), generator=g)
    conv_b = nn.init.uniform_(torch.empty(8), -1 / math.sqrt(27), 1 / math.sqrt(27), generator=g)
    fc_w = nn.init.kaiming_uniform_(torch.empty(4, 8), a=math.sqrt(5), generator=g)
    fc_b = nn.init.uniform_(torch.empty(4), -1 / math.sqrt(8), 1 / math.sqrt(8), generator=g)
    for got, want in ((model[0].weight, conv_w), (model[0].bias, conv_b), (model[2].weight, fc_w),
                      (model[2].bias, fc_b)):
        assert torch.equal(got, want)
    assert torch.equal(model[1].weight, torch.ones(8)) and torch.equal(model[1].running_mean, torch.zeros(8))


def test_init_refuses_layers_it_cannot_draw() -> None:
    with pytest.raises(ModelError, match="Embedding"):
        init_from_generator(nn.Sequential(nn.Embedding(4, 2)), torch.Generator())


def test_build_yolo_with_a_generator_ignores_the_global_generator() -> None:
    def build(disturb: int) -> nn.Module:
        torch.rand(disturb)  # whatever ran before moves the global generator
        return build_yolo(SPEC, num_classes=2, anchors=[(8, 8)], image_size=(32, 32),
                          generator=torch.Generator().manual_seed(3))

    first, second = build(1).state_dict(), build(5).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    # the objectness prior survives the re-initialization: logit(0.01) on every anchor
    bias = first["head.pred.bias"].view(1, 7)
    assert bias[0, 4].item() == pytest.approx(math.log(0.01 / 0.99)) and bias[0, :4].abs().sum() == 0


def _records(run: Path, name: str) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / name).read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # timings differ, rightly


def _same_weights(a: Path, b: Path) -> bool:
    left, right = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_detect_train_twice_with_one_seed_gives_identical_runs(tmp_path: Path, run_cli: Cli) -> None:
    args = ["detect", "train", SPEC, "--scenes", "12", "--val-scenes", "3", "--test-scenes", "3", "--canvas", "32",
            "--epochs", "2", "--batch-size", "6", "--anchors", "2", "--seed", "4"]
    for name in ("a", "b"):
        torch.rand(3)  # the second run starts from another global generator state
        code, _, err = run_cli([*args, "--out", tmp_path / name])
        assert code == 0, err
    assert _records(tmp_path / "a", "metrics.jsonl") == _records(tmp_path / "b", "metrics.jsonl")
    assert _same_weights(tmp_path / "a", tmp_path / "b")


def test_detect_localize_twice_with_one_seed_gives_identical_runs(tmp_path: Path, run_cli: Cli) -> None:
    args = ["detect", "localize", SPEC, "--scenes", "16", "--test-scenes", "4", "--epochs", "1", "--canvas", "32",
            "--batch-size", "8", "--seed", "2"]
    for name in ("a", "b"):
        torch.rand(3)
        code, _, err = run_cli([*args, "--out", tmp_path / name])
        assert code == 0, err
    assert _records(tmp_path / "a", "metrics.jsonl") == _records(tmp_path / "b", "metrics.jsonl")
    metrics = [json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("a", "b")]
    assert [{k: v for k, v in m.items() if k != "seconds"} for m in metrics] == \
        [{k: v for k, v in metrics[1].items() if k != "seconds"}] * 2
    assert _same_weights(tmp_path / "a", tmp_path / "b")
