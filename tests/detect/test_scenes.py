"""Scene generator: tight boxes recomputed from the canvas, labels against the source files,
landmarks from the boxes, determinism, disjoint splits, option checks."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou

from cnnkit.data import mnist
from cnnkit.detect.scene_compose import LANDMARK_NAMES, compose_scenes
from cnnkit.detect.scene_pools import ID_OFFSETS, INK_LEVEL, ObjectPool, scene_pools
from cnnkit.detect.scenes import make_scene_splits
from cnnkit.errors import DataError

pytestmark = pytest.mark.skipif(
    mnist.locate("fashion-mnist") is None, reason="Fashion-MNIST not on disk"
)


@pytest.fixture(scope="module")
def pools():
    return scene_pools(seed=0, digits=True)


@pytest.fixture(scope="module")
def fashion():
    return mnist.load("fashion-mnist", download=False)


def test_boxes_tight_on_clean_canvas(pools):
    (_, _, test), classes, _ = pools
    made = compose_scenes(
        test, 40, seed=5, classes=classes, background=0, noise=0, clutter=(0, 0)
    )
    ink = (
        made.scenes.images[:, 0] > INK_LEVEL
    )  # (N, H, W): on a black canvas only objects are bright
    checked = 0
    for i, t in enumerate(made.scenes.targets):
        covered = torch.zeros_like(ink[i])
        for x1, y1, x2, y2 in t.boxes.long().tolist():
            covered[y1:y2, x1:x2] = True
        assert not (ink[i] & ~covered).any()  # every bright pixel lies in some box
        if len(t) == 0:
            continue
        overlaps = box_iou(t.boxes, t.boxes) > 0
        for k, (x1, y1, x2, y2) in enumerate(t.boxes.long().tolist()):
            if overlaps[k].sum() > 1:
                continue  # a box touched by another: its extent on the canvas is shared
            # Bright pixels touch all four edges of the box (and none lie outside every box).
            inside = ink[i, y1:y2, x1:x2]
            assert (
                inside[0].any()
                and inside[-1].any()
                and inside[:, 0].any()
                and inside[:, -1].any()
            )
            checked += 1
    assert checked > 30


def test_boxes_inside_canvas_and_landmarks(pools):
    (train, _, _), classes, _ = pools
    made = compose_scenes(train, 30, seed=1, classes=classes, canvas=(80, 120))
    s = made.scenes
    assert s.images.shape == (30, 1, 80, 120) and s.images.dtype == torch.uint8
    assert s.landmark_names == LANDMARK_NAMES
    for t in s.targets:
        b = t.boxes
        assert b.dtype == torch.float32 and t.labels.dtype == torch.int64
        assert (
            (b[:, 0] >= 0) & (b[:, 1] >= 0) & (b[:, 2] <= 120) & (b[:, 3] <= 80)
        ).all()
        assert ((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all()
        x1, y1, x2, y2 = b.unbind(1)
        want = torch.stack([
            torch.stack([(x1 + x2) / 2, (y1 + y2) / 2], 1), torch.stack([x1, y1], 1), torch.stack([x2, y1], 1),
            torch.stack([x2, y2], 1), torch.stack([x1, y2], 1),
        ], 1)  # fmt: skip
        assert torch.equal(t.landmarks, want)
        iou = box_iou(b, b) - torch.eye(len(b))
        assert (iou <= 0.3 + 1e-6).all()  # the default max_overlap


def test_labels_match_source_files(pools, fashion):
    (_, _, test), classes, _ = pools
    made = compose_scenes(test, 60, seed=2, classes=classes)
    digits = None
    for t, ids in zip(made.scenes.targets, made.object_ids):
        for label, gid in zip(t.labels.tolist(), ids.tolist()):
            if gid >= ID_OFFSETS["sklearn-digits"]:
                if digits is None:
                    from sklearn.datasets import load_digits

                    digits = load_digits().target
                assert label == 10 + int(digits[gid - ID_OFFSETS["sklearn-digits"]])
            else:
                assert ID_OFFSETS["fashion-test"] <= gid < ID_OFFSETS["mnist-train"]
                assert label == int(fashion.test.y[gid - ID_OFFSETS["fashion-test"]])
    labels = torch.cat([t.labels for t in made.scenes.targets])
    assert (labels < 10).any() and (
        labels >= 10
    ).any()  # class-balanced: digits are not drowned out


def test_deterministic(pools):
    (train, _, _), classes, _ = pools
    a = compose_scenes(train, 8, seed=3, classes=classes).scenes
    b = compose_scenes(train, 8, seed=3, classes=classes).scenes
    c = compose_scenes(train, 8, seed=4, classes=classes).scenes
    assert torch.equal(a.images, b.images)
    assert all(
        torch.equal(x.boxes, y.boxes) and torch.equal(x.labels, y.labels)
        for x, y in zip(a.targets, b.targets)
    )
    assert not torch.equal(a.images, c.images)


def test_one_object_mode(pools):
    (train, _, _), classes, _ = pools
    s = compose_scenes(
        train, 60, seed=0, classes=classes, one_object=True, empty=0.3
    ).scenes
    counts = [len(t) for t in s.targets]
    assert set(counts) == {0, 1}
    assert 5 < counts.count(0) < 35


def test_splits_never_share_source_objects(pools):
    (train, val, test), classes, _ = pools
    sets = [set(p.ids.tolist()) for p in (train, val, test)]
    assert (
        not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    )
    for pool, ids in zip((train, val, test), sets):
        made = compose_scenes(pool, 20, seed=0, classes=classes)
        used = torch.cat(made.object_ids + made.clutter_ids).tolist()
        assert set(used) <= ids
    assert all(
        i >= ID_OFFSETS["fashion-test"]
        for i in sets[2]
        if i < ID_OFFSETS["mnist-train"]
    )
    assert all(
        i < ID_OFFSETS["fashion-test"]
        for i in sets[0] | sets[1]
        if i < ID_OFFSETS["mnist-train"]
    )


def test_make_scene_splits_uses_the_pools(pools):
    splits = make_scene_splits(4, 3, 2, seed=0, digits=True, objects=(2, 3))
    (train, val, test), classes, _ = pools
    assert [len(splits.train), len(splits.val), len(splits.test)] == [4, 3, 2]
    for k, (part, pool) in enumerate(
        zip((splits.train, splits.val, splits.test), (train, val, test))
    ):
        again = compose_scenes(
            pool, len(part), seed=k, classes=classes, objects=(2, 3)
        ).scenes
        assert torch.equal(part.images, again.images)
        assert part.classes == classes and part.notes


def test_bad_options(pools):
    (train, _, _), classes, _ = pools
    with pytest.raises(DataError, match="did you mean 'noise'"):
        make_scene_splits(1, 1, 1, nois=3.0)
    with pytest.raises(DataError, match="scale"):
        compose_scenes(train, 1, classes=classes, scale=(0.6, 0.2))
    with pytest.raises(DataError, match="objects"):
        compose_scenes(train, 1, classes=classes, objects=(3, 1))
    with pytest.raises(DataError, match="class names"):
        compose_scenes(train, 1, classes=classes[:10])
    with pytest.raises(DataError, match="brighter"):
        ObjectPool(
            torch.zeros(2, 1, 28, 28, dtype=torch.uint8),
            torch.zeros(2, dtype=torch.int64),
            torch.arange(2),
        )
