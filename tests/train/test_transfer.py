"""Transfer learning: what freezing freezes, the fine-tuning run, starting points, bad inputs.

The source runs are written by hand (a small QuickNet with non-default BN statistics and a
made-up 10-class dataset info); the targets are scikit-learn's bundled digits, limited to
a few hundred samples. Nothing is downloaded.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import cnnkit
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, DataError, ModelError, RunError
from cnnkit.nn.base import CnnModel
from cnnkit.train import loop
from cnnkit.train.config import TrainConfig
from cnnkit.train.freeze import forward_order, freeze, keep_frozen_norms_in_eval
from cnnkit.train.prepare import make_optimizer
from cnnkit.train.run import ModelMetadata, RunDir, load_run
from cnnkit.train.trainer import train
from cnnkit.train.transfer import LR_FACTOR, finetune, prepare

WIDTHS = [4, 8, 8]
SHAPE = (1, 16, 16)
QUICK = {"epochs": 2, "limit": 200, "augment": "none", "progress": False, "quiet": True}


def small_quicknet(in_channels: int = 1, num_classes: int = 10) -> CnnModel:
    torch.manual_seed(0)
    return cnnkit.build(
        "quicknet", widths=WIDTHS, in_channels=in_channels, num_classes=num_classes
    )


def make_source(path: Path, *, shape: tuple[int, ...] = SHAPE) -> tuple[Path, CnnModel]:
    """A finished run of a small QuickNet whose BN statistics are not the defaults."""
    model = small_quicknet(in_channels=shape[0])
    model.train()
    with torch.no_grad():
        model(torch.randn(8, *shape) * 2 + 0.5)
    model.eval()
    info = DatasetInfo(
        name="clothes", kind="image", input_shape=shape, classes=tuple(f"c{i}" for i in range(10)),
        mean=(0.3,) * shape[0], std=(0.4,) * shape[0], flip_ok=True, source="made in a test",
    )  # fmt: skip
    run = RunDir.create(path)
    run.write_config({"model": "quicknet", "data": "clothes", "seed": 0})
    run.save_model(
        model,
        ModelMetadata.describe(
            model, info, builder_kwargs={"in_channels": shape[0], "widths": WIDTHS}
        ),
    )
    return path, model


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CnnModel]:
    return make_source(tmp_path_factory.mktemp("source") / "src")


def stage_members(stages: int) -> list[str]:
    """QuickNet's weighted layers with their BN, written out from its definition."""
    return [
        f"features.stage{s}.{kind}{i}"
        for s in range(1, stages + 1)
        for i in (1, 2)
        for kind in ("conv", "bn")
    ]


def frozen_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if not p.requires_grad}


def params_of(model: nn.Module, modules: list[str]) -> set[str]:
    return {
        f"{m}.{p}"
        for m in modules
        for p, _ in model.get_submodule(m).named_parameters(recurse=False)
    }


# -- forward order and freezing ------------------------------------------------------------


def test_groups_follow_the_forward_pass_not_registration() -> None:
    class Swapped(nn.Module):
        """Registers `late` before `early` but calls `early` first."""

        def __init__(self) -> None:
            super().__init__()
            self.late = nn.Conv2d(4, 4, 3, padding=1)
            self.late_bn = nn.BatchNorm2d(4)
            self.early = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.late_bn(self.late(self.early(x)))

    head = nn.Sequential(
        OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(4, 3))
    )
    model = CnnModel(Swapped(), head)
    order = forward_order(model, (1, 8, 8))
    assert [g.members for g in order.groups] == [
        ("features.early",),
        ("features.late", "features.late_bn"),
        ("head.fc",),
    ]
    report = freeze(model, input_shape=(1, 8, 8), layers=1)
    assert frozen_names(model) == {"features.early.weight", "features.early.bias"}
    assert report.frozen_layers == ("features.early",)


@pytest.mark.parametrize("count", [0, 1, 2, 4, 6])
def test_freeze_n_freezes_the_first_n_layers_with_their_bn(count: int) -> None:
    model = small_quicknet()
    report = freeze(model, input_shape=SHAPE, layers=count)
    members = [
        m for pair in zip(stage_members(3)[0::2], stage_members(3)[1::2]) for m in pair
    ][: 2 * count]
    assert frozen_names(model) == params_of(model, members)
    assert report.frozen_parameters == sum(
        p.numel() for n, p in model.named_parameters() if n in params_of(model, members)
    )
    assert report.trainable_parameters + report.frozen_parameters == sum(
        p.numel() for p in model.parameters()
    )
    assert report.weighted_layers == 6 and len(report.frozen_layers) == count


def test_freeze_all_leaves_only_the_classifier() -> None:
    model = small_quicknet()
    report = freeze(model, input_shape=SHAPE, layers="all")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        "head.fc.weight",
        "head.fc.bias",
    }
    assert report.choice == "all" and "everything but the classifier" in report.line()


def test_freeze_until_a_stage_or_a_layer() -> None:
    a, b = small_quicknet(), small_quicknet()
    freeze(a, input_shape=SHAPE, until="features.stage1")
    freeze(b, input_shape=SHAPE, layers=2)
    assert frozen_names(a) == frozen_names(b)
    c = small_quicknet()
    report = freeze(
        c, input_shape=SHAPE, until="features.stage2.conv1"
    )  # its BN goes with it
    assert frozen_names(c) == params_of(
        c, stage_members(1) + ["features.stage2.conv1", "features.stage2.bn1"]
    )
    assert report.choice == "until:features.stage2.conv1"
    d = small_quicknet()
    short = freeze(d, input_shape=SHAPE, until="stage2.conv1")  # a unique suffix, as in every command
    assert frozen_names(d) == frozen_names(c) and short.choice == report.choice
    with pytest.raises(ModelError, match=r"layer 'conv1' is ambiguous in the model: features.stage1.conv1, features.stage2.conv1"):
        freeze(small_quicknet(), input_shape=SHAPE, until="conv1")


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"layers": 7}, ModelError, "has 6 below its classifier"),
        ({"layers": "three"}, CnnkitError, "--freeze takes a number"),
        ({"layers": -1}, CnnkitError, "0 or more"),
        ({"until": "features.stge2"}, ModelError, "did you mean 'features.stage2'"),
        ({"until": "head.fc"}, ModelError, "would freeze the classifier"),
        ({"layers": 1, "until": "features.stage1"}, CnnkitError, "not both"),
    ],
)
def test_bad_freeze_choices(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        freeze(small_quicknet(), input_shape=SHAPE, **kwargs)


def test_frozen_bn_stays_in_eval_mode_and_is_left_out_of_the_optimizer() -> None:
    model = small_quicknet()
    freeze(model, input_shape=SHAPE, layers=2)
    model.train()
    assert keep_frozen_norms_in_eval(model) == 2
    bns = {n: m for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert {n for n, m in bns.items() if not m.training} == {
        "features.stage1.bn1",
        "features.stage1.bn2",
    }
    optimizer = make_optimizer(model, TrainConfig())
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for p in model.parameters() if p.requires_grad}


# -- fine-tuning runs ----------------------------------------------------------------------


def test_finetune_keeps_frozen_weights_and_bn_statistics_bit_identical(
    source, tmp_path: Path
) -> None:
    src_path, _ = source
    before = load_run(src_path).model.state_dict()
    result = finetune(src_path, "digits", freeze=2, out=tmp_path / "ft", **QUICK)
    after = result.model.state_dict()
    frozen = [k for k in before if k.startswith("features.stage1.")]
    assert frozen and all(
        torch.equal(before[k], after[k]) for k in frozen
    )  # incl. running_mean/var
    for key in (
        "features.stage2.conv1.weight",
        "features.stage2.bn1.running_mean",
        "features.stage3.bn2.weight",
    ):
        assert not torch.equal(before[key], after[key]), key  # the rest did train
    assert result.model.head.fc.out_features == 10
    assert result.config.lr == pytest.approx(
        TrainConfig.from_preset("fast").lr * LR_FACTOR
    )

    record = json.loads((tmp_path / "ft" / "config.json").read_text())["transfer"]
    assert record["source"]["type"] == "run" and record["source"]["source"] == str(
        src_path
    )
    assert record["freeze"] == 2 and record["frozen"]["frozen_layers"] == [
        "features.stage1.conv1",
        "features.stage1.conv2",
    ]
    assert record["normalization"] == "source" and record["mean"] == pytest.approx(
        [0.3]
    )


def test_finetuned_run_loads_predicts_and_evaluates(source, tmp_path: Path) -> None:
    from cnnkit.train.predict import evaluate_run, predict

    src_path, _ = source
    result = finetune(
        src_path,
        "digits",
        freeze="all",
        per_class=5,
        seed=3,
        out=tmp_path / "ft",
        **QUICK,
    )
    assert len(result.info.classes) == 10 and result.config.transfer["train_size"] == 50
    run = load_run(tmp_path / "ft")
    assert (
        run.info.mean == (0.3,) and run.input_shape == SHAPE
    )  # the source's normalization and shape
    for a, b in zip(
        result.model.state_dict().values(), run.model.state_dict().values()
    ):
        assert torch.equal(a, b)
    image = tmp_path / "seven.png"
    Image.new("RGB", (40, 30), "white").save(image)
    (prediction,) = predict(run, [image], topk=2)
    assert prediction.ok and len(prediction.top) == 2
    evaluation = evaluate_run(run, amp="off")
    assert evaluation.result.num_samples == len(result.test.predictions)


def test_per_class_takes_k_examples_of_every_class_and_the_data_takes_the_source_shape(
    tmp_path: Path,
) -> None:
    path, _ = make_source(tmp_path / "rgb", shape=(3, 12, 12))  # digits are grey 8x8
    ready = prepare(path, "digits", per_class=3, limit=300, seed=1)
    assert (
        tuple(ready.splits.train.x.shape[1:]) == (3, 12, 12)
        and ready.splits.test.x.shape[1] == 3
    )
    assert torch.bincount(ready.splits.train.y).tolist() == [3] * 10
    assert ready.config.batch_size == 30 // 4 and ready.config.input_shape == (
        3,
        12,
        12,
    )
    target = prepare(
        path, "digits", per_class=3, limit=300, seed=1, normalization="target"
    )
    assert torch.equal(target.splits.train.x, ready.splits.train.x)  # the same examples
    assert target.splits.info.mean != ready.splits.info.mean


def test_resume_after_an_interrupt_matches_the_uninterrupted_run(
    source, tmp_path: Path, monkeypatch
) -> None:
    src_path, _ = source
    options = dict(QUICK, epochs=3, augment="light", seed=4)
    whole = finetune(src_path, "digits", freeze=3, out=tmp_path / "whole", **options)
    real, count = loop.apply_update, {"n": 0}

    def interrupted(*args, **kwargs):
        count["n"] += 1
        if count["n"] == whole.metrics[0]["step"] + 2:  # early in epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "apply_update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        finetune(src_path, "digits", freeze=3, out=tmp_path / "broken", **options)
    monkeypatch.undo()
    resumed = train(
        out=tmp_path / "broken", resume=True, progress=False, quiet=True
    )  # hands over to transfer
    timing = {"seconds", "images_per_s", "eval_seconds"}
    strip = [{k: v for k, v in r.items() if k not in timing} for r in whole.metrics]
    assert [
        {k: v for k, v in r.items() if k not in timing} for r in resumed.metrics
    ] == strip
    for a, b in zip(
        whole.model.state_dict().values(), resumed.model.state_dict().values()
    ):
        assert torch.equal(a, b)


# -- starting points and bad inputs --------------------------------------------------------


def test_missing_run_unknown_model_and_zoo_without_weights(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no run directory"):
        prepare(tmp_path / "nope", "digits")
    with pytest.raises(ModelError, match="did you mean 'quicknet'"):
        prepare("quiknet", "digits")
    with pytest.raises(ModelError, match="needs weights: --pretrained DEFAULT"):
        prepare("resnet18", "digits")
    with pytest.raises(ModelError, match="has no torchvision weights"):
        prepare("quicknet", "digits", pretrained="DEFAULT")


def test_bad_options(source) -> None:
    src_path, _ = source
    with pytest.raises(DataError, match="signal samples"):
        prepare(src_path, "mnist1d")
    with pytest.raises(CnnkitError, match="--pretrained is for zoo models"):
        prepare(src_path, "digits", pretrained="DEFAULT")
    with pytest.raises(CnnkitError, match="finetune sets 'model' itself"):
        prepare(src_path, "digits", model="lenet5")
    with pytest.raises(DataError, match="fewer than the 500 per class"):
        prepare(src_path, "digits", per_class=500)


def test_pretrained_default_offline_is_a_clear_model_error(
    tmp_path: Path, monkeypatch
) -> None:
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelError, match="could not download"):
        prepare("resnet18", "digits", pretrained="DEFAULT", input_shape=(3, 32, 32))


def test_finetune_from_a_local_torchvision_file(tmp_path: Path) -> None:
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(1)
    theirs = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path))
    result = finetune(
        "resnet18", "digits", pretrained=str(path), input_shape=(1, 32, 32), freeze="all",
        limit=60, epochs=1, batch_size=16, augment="none", progress=False, quiet=True, amp="off",
    )  # fmt: skip
    ours = result.model.state_dict()
    assert torch.equal(
        ours["features.conv1.weight"], theirs.conv1.weight.sum(dim=1, keepdim=True)
    )  # 1 channel
    assert torch.equal(
        ours["features.layer4.1.bn2.running_var"], theirs.layer4[1].bn2.running_var
    )
    assert result.model.head.fc.out_features == 10
    record = result.config.transfer
    assert record["source"]["type"] == "zoo" and record["mean"] == pytest.approx(
        [sum((0.485, 0.456, 0.406)) / 3]
    )


def test_a_zoo_source_is_known_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """The zoo registers itself on first use: a process whose first call is load_source
    must still know 'resnet18' (it once said 'neither a run directory nor a zoo model')."""
    import subprocess
    import sys

    import torchvision

    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    code = (
        "import sys; from cnnkit.train.transfer_source import load_source; "
        "s = load_source('resnet18', pretrained=sys.argv[1]); print(type(s.model).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
    assert done.stdout.strip() == type(cnnkit.build("resnet18")).__name__
