"""The YOLO loss: each part against an explicit per-slot formula; zero for perfect predictions."""

from __future__ import annotations

import math

import pytest
import torch

from cnnkit.detect.sample import Targets
from cnnkit.detect.yolo_loss import YoloLossWeights, yolo_loss
from cnnkit.detect.yolo_target import assign_targets


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def _case() -> tuple[torch.Tensor, object]:
    anchors = torch.tensor([[10.0, 10.0], [11.0, 9.0], [24.0, 6.0]])
    targets = [
        Targets(torch.tensor([[1.0, 2.0, 11.0, 12.0], [18.0, 20.0, 40.0, 27.0]]), torch.tensor([1, 0])),
        Targets(torch.tensor([[30.0, 3.0, 38.0, 14.0]]), torch.tensor([2])),
    ]
    t = assign_targets(targets, anchors, grid=4, image_size=(48, 48), ignore_threshold=0.5)
    pred = torch.randn(2, 4, 4, 3, 8, generator=torch.Generator().manual_seed(0))
    return pred, t


def test_each_part_matches_the_explicit_formula() -> None:
    pred, t = _case()
    w = YoloLossWeights(lambda_coord=3.0, lambda_noobj=0.25, lambda_obj=1.5, lambda_cls=0.7)
    got = yolo_loss(pred, t, w)
    box = obj = noobj = cls = 0.0
    for n, i, j, b in torch.cartesian_prod(*(torch.arange(k) for k in t.positive.shape)).tolist():
        p = pred[n, i, j, b].tolist()
        if t.positive[n, i, j, b]:
            tx, ty, tw, th = t.box[n, i, j, b].tolist()
            box += (_sig(p[0]) - tx) ** 2 + (_sig(p[1]) - ty) ** 2 + (p[2] - tw) ** 2 + (p[3] - th) ** 2
            obj += -math.log(_sig(p[4]))
            logits = p[5:]
            label = int(t.labels[n, i, j, b])
            cls += -logits[label] + math.log(sum(math.exp(v) for v in logits))
        elif not t.ignore[n, i, j, b]:
            noobj += -math.log(1 - _sig(p[4]))
    assert t.ignore.any() and t.positive.sum() == 3
    assert got["box"].item() == pytest.approx(3.0 * box / 2, rel=1e-5)
    assert got["obj"].item() == pytest.approx(1.5 * obj / 2, rel=1e-5)
    assert got["noobj"].item() == pytest.approx(0.25 * noobj / 2, rel=1e-5)
    assert got["cls"].item() == pytest.approx(0.7 * cls / 2, rel=1e-5)
    total = got["box"] + got["obj"] + got["noobj"] + got["cls"]
    assert got["loss"].item() == pytest.approx(total.item())


def test_perfect_prediction_is_zero_and_any_error_is_positive() -> None:
    pred, t = _case()
    perfect = torch.zeros_like(pred)
    perfect[..., 4] = -40.0
    pos = t.positive
    perfect[..., 0:2][pos] = torch.logit(t.box[..., 0:2][pos])
    perfect[..., 2:4][pos] = t.box[..., 2:4][pos]
    perfect[..., 4][pos] = 40.0
    perfect[..., 5:][pos] = torch.full((int(pos.sum()), 3), -40.0).scatter(1, t.labels[pos].unsqueeze(1), 40.0)
    got = yolo_loss(perfect, t)
    assert got["loss"].item() < 1e-5
    first_pos, last_pos = pos.nonzero()[0].tolist(), pos.nonzero()[-1].tolist()
    a_negative = t.negative.nonzero()[0].tolist()
    wrong_class = 5 + (int(t.labels[tuple(last_pos)]) + 1) % 3
    changes = [(first_pos, 0, 2.0), (first_pos, 2, 2.0), (last_pos, 4, -42.0), (last_pos, wrong_class, 82.0),
               (a_negative, 4, 42.0)]
    for slot, field, change in changes:
        worse = perfect.clone()
        worse[tuple(slot) + (field,)] += change
        assert yolo_loss(worse, t)["loss"].item() > 1e-2, (slot, field)


def test_ignored_slots_do_not_count_and_gradients_flow() -> None:
    pred, t = _case()
    ignored = t.ignore.nonzero()[0].tolist()
    moved = pred.clone()
    moved[tuple(ignored) + (4,)] += 5.0
    assert yolo_loss(moved, t)["loss"].item() == pytest.approx(yolo_loss(pred, t)["loss"].item())
    pred.requires_grad_(True)
    yolo_loss(pred, t)["loss"].backward()
    assert pred.grad is not None and pred.grad[tuple(ignored) + (4,)] == 0
    assert pred.grad[..., 4][t.negative].abs().min() > 0


def test_no_objects_leaves_only_the_negatives() -> None:
    t = assign_targets([Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))], torch.tensor([[8.0, 8.0]]),
                       grid=2, image_size=(16, 16))
    pred = torch.randn(1, 2, 2, 1, 7)
    got = yolo_loss(pred, t)
    assert got["box"].item() == 0 and got["cls"].item() == 0 and got["obj"].item() == 0
    expected = 0.5 * sum(-math.log(1 - _sig(v)) for v in pred[..., 4].flatten().tolist())
    assert got["noobj"].item() == pytest.approx(expected, rel=1e-5)
