"""Detection pictures: one rectangle per box at the box's pixels, class names with scores,
landmark markers, a grid of a DetectionSet, and clear errors."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnkit.detect.draw import draw_dataset, draw_detections
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.errors import DataError


def test_boxes_labels_scores_and_landmarks_drawn():
    image = torch.zeros(3, 32, 48, dtype=torch.uint8)
    boxes = torch.tensor([[2.0, 3.0, 20.0, 15.0], [10.0, 12.0, 40.0, 30.0]])
    marks = torch.rand(2, 3, 2) * 30
    fig = draw_detections(image, boxes, torch.tensor([0, 1]), classes=("cat", "dog"),
                          scores=torch.tensor([0.91, 0.5]), landmarks=marks, landmark_names=("a", "b", "c"))  # fmt: skip
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    got = sorted(
        (r.get_x(), r.get_y(), r.get_x() + r.get_width(), r.get_y() + r.get_height())
        for r in rects
    )
    assert got == sorted(tuple(b) for b in boxes.tolist())
    texts = [t.get_text() for t in ax.texts]
    assert "cat 0.91" in texts and "dog 0.50" in texts
    assert len(ax.lines) == 6  # one marker per landmark
    fig.canvas.draw()  # renders without pyplot


def test_dataset_grid_and_errors():
    images = torch.zeros(3, 1, 16, 16, dtype=torch.uint8)
    targets = [
        Targets(torch.tensor([[1.0, 1, 5, 5]]), torch.tensor([0])) for _ in range(3)
    ]
    data = DetectionSet(images, targets, ("x",))
    fig = draw_dataset(data, [0, 2], columns=2)
    assert len(fig.axes) == 2 and fig.axes[1].get_title().startswith("#2")
    with pytest.raises(DataError, match="one image"):
        draw_detections(torch.zeros(16, 16), torch.zeros(0, 4), torch.zeros(0))
    with pytest.raises(DataError, match="2 boxes but 1 labels"):
        draw_detections(images[0], torch.zeros(2, 4), torch.zeros(1))
    with pytest.raises(DataError, match="DetectionSet"):
        draw_dataset(images)
