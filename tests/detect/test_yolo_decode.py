"""Decoding: encode -> assign -> decode round trip, threshold and per-class NMS (the box formula: test_boxes.py)."""

from __future__ import annotations

import torch
from torchvision.ops import batched_nms, clip_boxes_to_image

from cnnkit.detect.boxes import decode_yolo
from cnnkit.detect.sample import Targets
from cnnkit.detect.yolo_decode import decode
from cnnkit.detect.yolo_target import assign_targets

_BIG = 30.0  # a logit whose sigmoid is 1 to float precision


def _perfect_logits(targets: list[Targets], anchors: torch.Tensor, grid: int, size: tuple[int, int],
                    num_classes: int) -> torch.Tensor:
    """The output a perfect detector would give: (N, S, S, B, 5 + n)."""
    t = assign_targets(targets, anchors, grid=grid, image_size=size, ignore_threshold=None)
    pred = torch.zeros(*t.positive.shape, 5 + num_classes)
    pred[..., 4] = -_BIG
    pos = t.positive
    pred[..., 0:2][pos] = torch.logit(t.box[..., 0:2][pos].double()).float()
    pred[..., 2:4][pos] = t.box[..., 2:4][pos]
    pred[..., 4][pos] = _BIG
    pred[..., 5:][pos] = -_BIG
    pred[..., 5:][pos] = pred[..., 5:][pos].scatter(1, t.labels[pos].unsqueeze(1), _BIG)
    return pred


def test_encode_assign_decode_recovers_the_boxes() -> None:
    g = torch.Generator().manual_seed(0)
    anchors = torch.tensor([[10.0, 10.0], [24.0, 12.0], [8.0, 20.0]])
    size, grid, num_classes = (48, 48), 6, 3
    targets = []
    for _ in range(3):
        cells = torch.randperm(grid * grid, generator=g)[:4]  # one box per cell: no collisions
        centre = torch.stack([cells % grid, cells // grid], 1).float() * 8 + 1 + torch.rand(4, 2, generator=g) * 6
        wh = 4 + torch.rand(4, 2, generator=g) * 14
        boxes = clip_boxes_to_image(torch.cat([centre - wh / 2, centre + wh / 2], 1), size)
        targets.append(Targets(boxes, torch.randint(0, num_classes, (4,), generator=g)))
    pred = _perfect_logits(targets, anchors, grid, size, num_classes)
    found = decode(pred, anchors, size, conf_threshold=0.5, iou_threshold=0.99)
    for t, f in zip(targets, found):
        assert len(f["boxes"]) == len(t)
        want = sorted(zip(t.boxes.tolist(), t.labels.tolist()))
        got = sorted(zip(f["boxes"].tolist(), f["labels"].tolist()))
        for (wb, wl), (gb, gl) in zip(want, got):
            assert wl == gl
            assert torch.allclose(torch.tensor(gb), torch.tensor(wb), atol=1e-3)
        assert torch.allclose(f["scores"], torch.ones(len(t)))


def test_threshold_and_nms_match_torchvision() -> None:
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(2, 4, 4, 2, 8, generator=g)  # 3 classes
    pred[..., 2:4] *= 0.5
    anchors = torch.tensor([[10.0, 10.0], [16.0, 8.0]])
    size = (32, 32)
    found = decode(pred, anchors, size, conf_threshold=0.2, iou_threshold=0.4, max_detections=100)
    boxes = clip_boxes_to_image(decode_yolo(pred, anchors, size), size).reshape(2, -1, 4)
    obj = torch.sigmoid(pred[..., 4]).reshape(2, -1)
    prob, label = torch.softmax(pred[..., 5:], dim=-1).reshape(2, -1, 3).max(dim=-1)
    for k in range(2):
        score = obj[k] * prob[k]
        keep = score >= 0.2
        idx = batched_nms(boxes[k][keep], score[keep], label[k][keep], 0.4)
        assert 0 < len(idx) < int(keep.sum())  # the case exercises both the threshold and NMS
        assert torch.equal(found[k]["scores"], score[keep][idx])
        assert torch.equal(found[k]["labels"], label[k][keep][idx])
        assert torch.allclose(found[k]["boxes"], boxes[k][keep][idx])
    few = decode(pred, anchors, size, conf_threshold=0.0, iou_threshold=1.0, max_detections=5)
    assert all(len(f["boxes"]) == 5 for f in few)
    assert all(bool((f["scores"][:-1] >= f["scores"][1:]).all()) for f in few)


def test_nms_is_per_class() -> None:
    # two anchors in one cell predict the same box; same class -> one survives, different -> both
    anchors = torch.tensor([[10.0, 10.0], [10.0, 10.0]])
    pred = torch.zeros(1, 2, 2, 2, 7)
    pred[..., 4] = -30.0
    pred[0, 0, 0, :, 4] = torch.tensor([3.0, 2.0])
    pred[0, 0, 0, :, 5] = 10.0
    same = decode(pred, anchors, (16, 16), conf_threshold=0.5)[0]
    assert len(same["boxes"]) == 1 and same["scores"][0] == torch.sigmoid(torch.tensor(3.0)) * torch.softmax(
        torch.tensor([10.0, 0.0]), 0)[0]
    pred[0, 0, 0, 1, 5:] = torch.tensor([0.0, 10.0])
    both = decode(pred, anchors, (16, 16), conf_threshold=0.5)[0]
    assert sorted(both["labels"].tolist()) == [0, 1]
    one = decode(pred, anchors, (16, 16), conf_threshold=0.5, class_agnostic=True)[0]
    assert one["labels"].tolist() == [0] and one["scores"][0] == both["scores"].max()
    empty = decode(pred, anchors, (16, 16), conf_threshold=0.99)[0]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].dtype == torch.long


def test_multi_label_scores_every_class_of_every_anchor() -> None:
    g = torch.Generator().manual_seed(7)
    pred = torch.randn(2, 3, 3, 2, 9, generator=g)  # 4 classes
    pred[..., 2:4] *= 0.5
    anchors = torch.tensor([[9.0, 12.0], [14.0, 7.0]])
    size = (24, 24)
    found = decode(pred, anchors, size, conf_threshold=0.05, iou_threshold=0.5, multi_label=True)
    boxes = clip_boxes_to_image(decode_yolo(pred, anchors, size), size).reshape(2, -1, 4)
    scores = torch.sigmoid(pred[..., 4]).reshape(2, -1, 1) * torch.softmax(pred[..., 5:], -1).reshape(2, -1, 4)
    for k in range(2):
        # reference: one candidate per (anchor, class) pair over the threshold, then per-class NMS
        slot, cls = (scores[k] >= 0.05).nonzero(as_tuple=True)
        cand_boxes, cand_scores = boxes[k][slot], scores[k][slot, cls]
        idx = batched_nms(cand_boxes, cand_scores, cls, 0.5)
        assert torch.equal(found[k]["labels"], cls[idx])
        assert torch.allclose(found[k]["scores"], cand_scores[idx])
        assert torch.allclose(found[k]["boxes"], cand_boxes[idx])
        single = decode(pred[k : k + 1], anchors, size, conf_threshold=0.05, iou_threshold=0.5)[0]
        assert len(found[k]["labels"]) > len(single["labels"])  # second guesses add detections


def test_multi_label_keeps_the_second_guess_of_one_box() -> None:
    anchors = torch.tensor([[10.0, 10.0]])
    pred = torch.zeros(1, 2, 2, 1, 8)  # 3 classes
    pred[..., 4] = -30.0
    pred[0, 1, 0, 0, 4] = 30.0  # one confident object
    pred[0, 1, 0, 0, 5:] = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    multi = decode(pred, anchors, (16, 16), conf_threshold=0.2, multi_label=True)[0]
    assert multi["labels"].tolist() == [0, 1]
    assert torch.allclose(multi["scores"], torch.tensor([0.6, 0.3]))
    assert torch.equal(multi["boxes"][0], multi["boxes"][1])
    single = decode(pred, anchors, (16, 16), conf_threshold=0.2)[0]
    assert single["labels"].tolist() == [0]
