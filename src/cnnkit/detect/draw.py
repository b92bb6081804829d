"""Pictures of detections: an image with its boxes, class names, scores and landmarks.

Matplotlib ``Figure`` objects built without pyplot (no global state, safe in threads and
tests); save them with :func:`cnnkit.atomic.save_figure`. Used for generated scenes,
users' annotations and ``detect predict`` output alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from torch import Tensor

from cnnkit.errors import DataError

__all__ = [
    "MIN_INCHES",
    "BoxLabels",
    "class_colour",
    "draw_dataset",
    "draw_detections",
    "draw_on_axes",
]

MIN_INCHES = 2.0  # shortest side of a draw_detections figure
_MARKERS = "o^s*Dvph"  # one marker per landmark index (cycled), so the order is visible


def class_colour(label: int) -> tuple[float, float, float, float]:
    """A stable colour per class index (tab10, then tab20's lighter shades)."""
    from matplotlib import colormaps

    if label < 10:
        return colormaps["tab10"](label)
    return colormaps["tab20"]((2 * (label - 10) + 1) % 20)


class BoxLabels(Artist):
    """Places the name labels of one axes' boxes when the figure is drawn (after the layout, so
    the sizes in pixels are final): each label takes the first of these spots that covers no
    label placed before it and stays inside the axes: above the box, inside its top, below it,
    inside its bottom, each at the left then the right edge; when none is free, the spot with
    the least overlap. Labels are placed in the given order (most confident first)."""

    _SPOTS = (("x1", "y1", "bottom"), ("x1", "y1", "top"), ("x1", "y2", "top"), ("x1", "y2", "bottom"),
              ("x2", "y1", "bottom"), ("x2", "y1", "top"), ("x2", "y2", "top"), ("x2", "y2", "bottom"))
    _MARGIN = 1.5  # points kept between two labels' texts: their coloured backgrounds reach 0.6 beyond

    def __init__(self, entries: list[tuple[Text, tuple[float, float, float, float]]]) -> None:
        super().__init__()
        self.entries = entries  # (label, its box x1 y1 x2 y2 in data pixels)
        self.set_zorder(2.9)  # drawn just before the labels (zorder 3), so it moves them first
        self.set_in_layout(False)

    def draw(self, renderer: object) -> None:
        area = self.axes.bbox  # type: ignore[union-attr]
        margin = renderer.points_to_pixels(self._MARGIN)  # type: ignore[attr-defined]
        placed: list[Bbox] = []
        for text, (x1, y1, x2, y2) in self.entries:
            corners = {"x1": x1, "x2": x2, "y1": y1, "y2": y2}
            best, best_cost = self._SPOTS[0], float("inf")
            for spot in self._SPOTS:
                self._put(text, spot, corners)
                extent = text.get_window_extent(renderer)
                cost = sum(_overlap(extent.padded(margin), other) for other in placed) + _outside(extent, area)
                if cost < best_cost:
                    best, best_cost = spot, cost
                if cost == 0:
                    break
            self._put(text, best, corners)
            placed.append(text.get_window_extent(renderer))

    @staticmethod
    def _put(text: Text, spot: tuple[str, str, str], corners: dict[str, float]) -> None:
        x, y, va = spot
        text.set_position((corners[x], corners[y]))
        text.set_horizontalalignment("left" if x == "x1" else "right")
        text.set_verticalalignment(va)


def _overlap(a: Bbox, b: Bbox) -> float:
    """Shared area of two boxes in square pixels (0 when apart)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, w) * max(0.0, h)


def _outside(a: Bbox, area: Bbox) -> float:
    """Area of ``a`` outside ``area`` (clipped away, so unreadable)."""
    return a.width * a.height - _overlap(a, area)


def _as_picture(image: Tensor) -> tuple[object, str | None]:
    """(C, H, W) uint8 or float 0..1 -> an (H, W) or (H, W, 3) array and its colour map."""
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise DataError(
            f"draw needs one image (1 or 3, H, W), got shape {tuple(image.shape)}"
        )
    pic = image.detach().to("cpu")
    pic = (
        pic.float() / 255.0 if pic.dtype == torch.uint8 else pic.float().clamp(0.0, 1.0)
    )
    if pic.shape[0] == 1:
        return pic[0].numpy(), "gray"
    return pic.permute(1, 2, 0).numpy(), None


def draw_on_axes(
    ax: Axes,
    image: Tensor,
    boxes: Tensor,
    labels: Tensor,
    *,
    classes: Sequence[str] | None = None,
    scores: Tensor | None = None,
    landmarks: Tensor | None = None,
    landmark_names: Sequence[str] = (),
    title: str | None = None,
    font_size: float = 7.0,
    empty: str | None = None,
) -> None:
    """Draw ``image`` (C, H, W) with boxes (K, 4) xyxy pixels, labels (K,), optional scores (K,)
    and landmarks (K, P, 2) (x, y) pixels on ``ax``; pixel (0, 0) spans 0..1 on both axes.

    Name labels never cover each other (:class:`BoxLabels` moves them); with scores, the most
    confident box picks its spot first. ``empty``: a line written across the image when there
    is no box (e.g. "no box above 0.25")."""
    pic, cmap = _as_picture(image)
    h, w = image.shape[1], image.shape[2]
    ax.imshow(
        pic, cmap=cmap, vmin=0.0, vmax=1.0, extent=(0, w, h, 0), interpolation="nearest"
    )
    boxes = boxes.detach().to("cpu").float().reshape(-1, 4)
    labels = labels.detach().to("cpu").reshape(-1)
    if len(boxes) != len(labels):
        raise DataError(f"{len(boxes)} boxes but {len(labels)} labels")
    entries: list[tuple[Text, tuple[float, float, float, float]]] = []
    order = list(range(len(boxes))) if scores is None else \
        scores.detach().to("cpu").reshape(-1).argsort(descending=True).tolist()  # most confident first
    for k in order:
        x1, y1, x2, y2 = boxes[k].tolist()
        label = int(labels[k])
        colour = class_colour(label)
        ax.add_patch(
            Rectangle(
                (x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.2
            )
        )
        name = (
            classes[label]
            if classes is not None and 0 <= label < len(classes)
            else str(label)
        )
        text = name if scores is None else f"{name} {float(scores[k]):.2f}"
        tag = ax.text(x1, y1, text, fontsize=font_size, color="black", va="bottom", ha="left",
                      bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
                      clip_on=True)  # fmt: skip
        tag.set_in_layout(False)  # placed inside the axes at draw time: no say in the layout
        entries.append((tag, (x1, y1, x2, y2)))
        if landmarks is not None and landmarks.numel():
            points = landmarks[k].detach().to("cpu").float()  # (P, 2)
            for p, (x, y) in enumerate(points.tolist()):
                ax.plot([x], [y], marker=_MARKERS[p % len(_MARKERS)], markersize=3.5, color=colour,
                        markeredgecolor="black", markeredgewidth=0.4, linestyle="none")  # fmt: skip
    if entries:
        ax.add_artist(BoxLabels(entries))
    elif empty:
        ax.text(w / 2, h / 2, empty, fontsize=font_size, color="white", ha="center", va="center",
                bbox={"facecolor": "black", "edgecolor": "none", "pad": 1.5, "alpha": 0.6}, clip_on=True)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=font_size + 1)


def draw_detections(
    image: Tensor,
    boxes: Tensor,
    labels: Tensor,
    *,
    classes: Sequence[str] | None = None,
    scores: Tensor | None = None,
    landmarks: Tensor | None = None,
    landmark_names: Sequence[str] = (),
    title: str | None = None,
    size: float = 4.0,
    empty: str | None = None,
) -> Figure:
    """One image (C, H, W) with its boxes (K, 4) xyxy pixels, labels (K,), optional scores (K,)
    (shown after the class name) and landmarks (K, P, 2); ``size`` inches on the longer side;
    ``empty`` as in :func:`draw_on_axes`."""
    h, w = image.shape[-2], image.shape[-1]
    # A sliver (1 x 5000 pixels) would give a figure under one pixel wide, which cannot be saved.
    width, height = (max(MIN_INCHES, size * side / max(h, w)) for side in (w, h))
    fig = Figure(figsize=(width, height + 0.3))
    ax = fig.add_subplot(1, 1, 1)
    draw_on_axes(ax, image, boxes, labels, classes=classes, scores=scores, landmarks=landmarks,
                 landmark_names=landmark_names, title=title, empty=empty)  # fmt: skip
    if landmark_names and landmarks is not None and landmarks.numel():
        _landmark_legend(fig, landmark_names)
    with warnings.catch_warnings():
        # On a tiny or sliver image the title may not fit the margins; the picture is still fine.
        warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
        fig.tight_layout()
    return fig


def _landmark_legend(fig: Figure, names: Sequence[str]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=_MARKERS[p % len(_MARKERS)], color="grey", linestyle="none",
                      markersize=4, label=name) for p, name in enumerate(names)]  # fmt: skip
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(names), 5),
        fontsize=6,
        frameon=False,
    )


def draw_dataset(
    dataset: object,
    indices: Sequence[int] | None = None,
    *,
    columns: int = 4,
    size: float = 2.4,
    landmarks: bool = True,
) -> Figure:
    """A grid of images of a :class:`~cnnkit.detect.sample.DetectionSet` with their targets
    (the first 8 by default); ``size`` inches per image."""
    from cnnkit.detect.sample import DetectionSet

    if not isinstance(dataset, DetectionSet):
        raise DataError(
            f"draw_dataset needs a DetectionSet, got {type(dataset).__name__}"
        )
    rows_of = (
        list(range(min(8, len(dataset))))
        if indices is None
        else [int(i) for i in indices]
    )
    if not rows_of:
        raise DataError("nothing to draw: the dataset or the index list is empty")
    cols = max(1, min(columns, len(rows_of)))
    rows = (len(rows_of) + cols - 1) // cols
    fig = Figure(figsize=(size * cols, size * rows + 0.4))
    for n, i in enumerate(rows_of):
        t = dataset.targets[i]
        ax = fig.add_subplot(rows, cols, n + 1)
        draw_on_axes(ax, dataset.images[i], t.boxes, t.labels, classes=dataset.classes,
                     landmarks=t.landmarks if landmarks else None, title=f"#{i}: {len(t)} object{'' if len(t) == 1 else 's'}",
                     font_size=6.0)  # fmt: skip
    if landmarks and dataset.landmark_names and any(t.landmarks is not None and t.landmarks.numel()
                                                    for t in dataset.targets[:1]):  # fmt: skip
        _landmark_legend(fig, dataset.landmark_names)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
