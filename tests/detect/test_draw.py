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


def _label_extents(fig: Figure) -> tuple[list[object], object]:
    """Window extents of the box labels' coloured backgrounds on the figure's first axes, after a
    full draw (labels are placed at draw time), and that axes' extent."""
    fig.draw_without_rendering()
    ax = fig.axes[0]
    return [t.get_bbox_patch().get_window_extent() for t in ax.texts], ax.bbox


@pytest.mark.parametrize("scored", [True, False])
def test_labels_of_boxes_with_one_corner_never_cover_each_other(scored: bool) -> None:
    # three boxes with nearly the same top-left corner gave "squarere": names printed over each other;
    # two more at the image's top edge, where "above the box" is off the image
    boxes = torch.tensor([[20.0, 30.0, 60.0, 70.0], [21.0, 31.0, 58.0, 72.0], [22.0, 29.0, 62.0, 69.0],
                          [60.0, 0.0, 94.0, 40.0], [62.0, 1.0, 95.0, 38.0]])
    scores = torch.tensor([0.9, 0.6, 0.3, 0.8, 0.4]) if scored else None
    fig = draw_detections(torch.zeros(1, 96, 96, dtype=torch.uint8), boxes, torch.tensor([0, 1, 2, 0, 1]),
                          classes=("square", "rectangle", "circle"), scores=scores)
    extents, area = _label_extents(fig)
    assert len(extents) == 5
    for i, a in enumerate(extents):
        # inside the image (up to a pixel of rounding), so never clipped away
        assert a.x0 >= area.x0 - 1 and a.x1 <= area.x1 + 1 and a.y0 >= area.y0 - 1 and a.y1 <= area.y1 + 1
        for b in extents[i + 1 :]:
            assert not a.overlaps(b), (a, b)  # matplotlib's own Bbox test


def test_empty_predicted_panel_names_the_threshold() -> None:
    from cnnkit.detect.run_train import predictions_figure

    data = DetectionSet(torch.zeros(1, 1, 32, 32, dtype=torch.uint8),
                        [Targets(torch.tensor([[4.0, 4, 20, 20]]), torch.tensor([0]))], ("x",))
    low = [{"boxes": torch.tensor([[4.0, 4, 20, 20]]), "scores": torch.tensor([0.1]), "labels": torch.tensor([0])}]
    fig = predictions_figure(data, low, ("x",), conf=0.3)
    predicted, truth = fig.axes
    assert [t.get_text() for t in predicted.texts] == ["no box above 0.3"]
    assert [t.get_text() for t in truth.texts] == ["x"]  # the truth panel is not "empty"
    fig = draw_detections(data.images[0], torch.zeros(0, 4), torch.zeros(0), empty="no box above 0.25")
    assert [t.get_text() for t in fig.axes[0].texts] == ["no box above 0.25"]
