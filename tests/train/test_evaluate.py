"""evaluate(): accuracy, loss, confusion and TTA checked against torch and scikit-learn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix
from tinydata import blobs, tiny_info

import cnnkit
from cnnkit.errors import CnnkitError
from cnnkit.train.evaluate import evaluate

SPEC = "INPUT(1x8x8) -> CONV(4, k=3) -> BN -> RELU -> GAP -> FC"


@pytest.fixture()
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return cnnkit.build(SPEC, num_classes=3)


def reference_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    info = tiny_info()
    model.eval()
    with torch.no_grad():
        return model(info.normalize(x))


def test_figures_match_a_plain_pass(model: torch.nn.Module) -> None:
    split, info = blobs(50, seed=3), tiny_info()
    result = evaluate(model, split, info, batch_size=7)  # batches that do not divide 50
    logits = reference_logits(model, split.x)
    pred = logits.argmax(1)
    assert result.num_samples == 50
    assert torch.equal(result.predictions, pred)
    assert result.accuracy == pytest.approx((pred == split.y).float().mean().item())
    assert result.loss == pytest.approx(F.cross_entropy(logits, split.y).item(), rel=1e-5)
    expected = confusion_matrix(split.y.numpy(), pred.numpy(), labels=[0, 1, 2])
    assert result.confusion.tolist() == expected.tolist()
    for c in range(3):
        row = expected[c]
        assert result.per_class_accuracy[c] == pytest.approx(row[c] / row.sum())


def test_tta_averages_image_and_mirror_logits(model: torch.nn.Module) -> None:
    split, info = blobs(20, seed=4), tiny_info()
    result = evaluate(model, split, info, tta_flip=True)
    logits = (reference_logits(model, split.x) + reference_logits(model, split.x.flip(-1))) / 2
    assert torch.equal(result.predictions, logits.argmax(1))
    assert result.loss == pytest.approx(F.cross_entropy(logits, split.y).item(), rel=1e-5)


def test_shards_cover_the_split_once(model: torch.nn.Module) -> None:
    split, info = blobs(31, seed=5), tiny_info()
    whole = evaluate(model, split, info)
    parts = [evaluate(model, split, info, shard=(r, 3)) for r in range(3)]  # no process group: local sums
    assert sum(p.num_samples for p in parts) == 31
    assert torch.equal(sum(p.confusion for p in parts), whole.confusion)


def test_restores_training_mode_and_absent_classes_are_nan(model: torch.nn.Module) -> None:
    split = blobs(30, seed=6)
    keep = split.y != 2
    split = split.subset(keep.nonzero().squeeze(1))
    model.train()
    result = evaluate(model, split, tiny_info())
    assert model.training
    assert result.per_class_accuracy[2] != result.per_class_accuracy[2]  # nan: no samples of class 2
    assert result.to_dict()["per_class_accuracy"][2] is None


def test_tta_needs_images(model: torch.nn.Module) -> None:
    from dataclasses import replace

    info = replace(tiny_info(), kind="signal")
    with pytest.raises(CnnkitError, match="drop --tta"):
        evaluate(model, blobs(4), info, tta_flip=True)
