"""The YOLO-style detector: a convolutional trunk, a small head, one prediction per anchor per cell.

    images (N, C, H, W) --trunk--> (N, C', S, S) --head--> (N, S, S, B, 5 + n)

The last axis holds, for anchor b of the cell in row i (y) and column j (x):
``tx, ty`` (logits of the centre's offset inside the cell, 0..1 after a sigmoid), ``tw, th``
(log of the box size over the anchor's size), the objectness logit, and n class logits.
:mod:`cnnkit.detect.yolo_decode` turns that into boxes; :mod:`cnnkit.detect.yolo_target`
builds the matching targets.

The trunk is any zoo or spec model's ``.features``; :func:`build_yolo` checks the grid it
produces at the scene size and can add one strided convolution to make the grid coarser.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnkit.errors import ModelError, ShapeError
from cnnkit.nn.pixel_stats import PixelStats

__all__ = ["YoloDetector", "build_yolo", "check_backbone"]

_OBJ_PRIOR = 0.01  # objectness bias starts at logit(0.01): few cells hold objects (RetinaNet's prior)


def _check_anchors(anchors: Tensor | Sequence[Sequence[float]]) -> Tensor:
    """Anchors as float32 (B, 2) widths and heights in pixels, every one positive."""
    table = torch.as_tensor(anchors, dtype=torch.float32)
    if table.dim() != 2 or table.shape[1] != 2 or table.shape[0] < 1:
        raise ModelError(
            f"anchors must be a (B, 2) table of widths and heights in pixels, got shape {tuple(table.shape)}; "
            "e.g. anchors=[(16, 16), (32, 24)]"
        )
    if not bool(torch.isfinite(table).all()) or bool((table <= 0).any()):
        raise ModelError("every anchor width and height must be a positive number of pixels")
    return table


class YoloDetector(PixelStats):
    """YOLO-style detector over a convolutional trunk.

    ``forward(x)``: normalized float images (N, C, H, W) -> (N, S, S, B, 5 + num_classes).
    ``predict(images)``: uint8 or float images -> per-image dicts of ``boxes`` (K, 4) xyxy
    pixels, ``scores`` (K,) and ``labels`` (K,) int64 (the torchvision/torchmetrics format).

    Buffers: ``anchors`` (B, 2) w, h in pixels; ``mean`` and ``std`` (C,) on the 0..1 scale,
    used by :meth:`normalize` (``fit`` records the training images' statistics there).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        anchors: Tensor | Sequence[Sequence[float]],
        grid: int,
        backbone_channels: int,
        head_width: int = 64,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if num_classes < 1 or grid < 1 or backbone_channels < 1 or head_width < 1:
            raise ModelError("num_classes, grid, backbone_channels and head_width must be positive integers")
        table = _check_anchors(anchors)
        self.num_classes = int(num_classes)
        self.grid = int(grid)
        self.num_anchors = int(table.shape[0])
        self.backbone = backbone
        outputs = self.num_anchors * (5 + self.num_classes)
        self.head = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(backbone_channels, head_width, 3, padding=1, bias=False),
                bn=nn.BatchNorm2d(head_width),
                relu=nn.ReLU(inplace=True),
                pred=nn.Conv2d(head_width, outputs, 1),
            )
        )
        self.set_objectness_prior()
        self.register_buffer("anchors", table)
        self.register_pixel_stats(in_channels)

    def set_objectness_prior(self) -> None:
        """Zero the prediction bias and set the objectness logit to logit(0.01): start with
        "no object anywhere" so the many negatives do not swamp the first steps."""
        with torch.no_grad():
            bias = self.head.pred.bias.view(self.num_anchors, 5 + self.num_classes)
            bias.zero_()
            bias[:, 4] = math.log(_OBJ_PRIOR / (1 - _OBJ_PRIOR))

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) normalized -> (N, S, S, B, 5 + num_classes)."""
        fmap = self.head(self.backbone(x))  # (N, B * (5 + n), S, S)
        n, _, rows, cols = fmap.shape
        if rows != self.grid or cols != self.grid:
            raise ShapeError(
                f"the detector expects a {self.grid}x{self.grid} grid but this input of size "
                f"{tuple(x.shape[-2:])} gives {rows}x{cols}; feed images of the size it was built for"
            )
        out = fmap.view(n, self.num_anchors, 5 + self.num_classes, rows, cols)
        return out.permute(0, 3, 4, 1, 2).contiguous()  # (N, S, S, B, 5 + n)

    @torch.no_grad()
    def predict(
        self,
        images: Tensor,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_detections: int = 100,
        batch_size: int = 64,
        class_agnostic: bool = False,
        multi_label: bool = False,
    ) -> list[dict[str, Tensor]]:
        """Detections for (N, C, H, W) images (uint8 0..255, or float 0..1), in eval mode.

        ``multi_label=True`` gives a detection per class above ``conf_threshold`` (for mAP);
        see :func:`cnnkit.detect.yolo_decode.decode`."""
        from cnnkit.detect.yolo_decode import decode

        was_training = self.training
        self.eval()
        device = self.anchors.device
        found: list[dict[str, Tensor]] = []
        try:
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size].to(device)
                out = self(self.normalize(chunk))
                found += decode(
                    out, self.anchors, tuple(chunk.shape[-2:]), conf_threshold=conf_threshold,
                    iou_threshold=iou_threshold, max_detections=max_detections, class_agnostic=class_agnostic,
                    multi_label=multi_label,
                )
        finally:
            self.train(was_training)
        return found


def _first_in_channels(trunk: nn.Module) -> int | None:
    """The input channels of the trunk's first convolution (what its images must have), or None."""
    for module in trunk.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return int(module.in_channels)
    return None


def _trunk_grid(trunk: nn.Module, in_channels: int, image_size: tuple[int, int], what: str) -> tuple[int, int, int]:
    """(channels, rows, cols) the trunk produces for one image of ``image_size``."""
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            out = trunk(torch.zeros(1, in_channels, *image_size))
    except RuntimeError as err:
        expected = _first_in_channels(trunk)
        if expected is not None and expected != in_channels:
            raise ShapeError(
                f"{what}'s trunk takes {expected}-channel images but the scenes have {in_channels} "
                f"channel{'' if in_channels == 1 else 's'}; write INPUT({in_channels}x...) in the spec "
                "or pick a zoo backbone (it adapts to the channels)"
            ) from None
        raise ShapeError(
            f"{what}'s trunk cannot take {in_channels}x{image_size[0]}x{image_size[1]} images "
            f"({str(err).splitlines()[0]}); pick a backbone that fits the scene size"
        ) from None
    finally:
        trunk.train(was_training)
    if out.dim() != 4:
        raise ShapeError(
            f"{what}'s trunk gives a {tuple(out.shape)} tensor, not a (N, C, S, S) feature map; "
            "the YOLO head needs a convolutional trunk"
        )
    return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])


def _checked_grid(trunk: nn.Module, in_channels: int, image_size: tuple[int, int], what: str) -> tuple[int, int]:
    """(channels, S) of the trunk's S x S grid at ``image_size``; ShapeError unless it is square and
    at least 2x2."""
    channels, rows, cols = _trunk_grid(trunk, in_channels, image_size, what)
    if rows != cols:
        raise ShapeError(
            f"{what}'s trunk gives a {rows}x{cols} grid for {image_size[0]}x{image_size[1]} images; "
            "the detector needs a square grid: use square scenes"
        )
    if rows < 2:
        raise ShapeError(
            f"{what}'s trunk reduces {image_size[0]}x{image_size[1]} images to a {rows}x{cols} grid, too coarse "
            "to place objects; use larger scenes or a trunk that downsamples less (e.g. quicknet)"
        )
    return channels, rows


def check_backbone(name_or_spec: str, image_size: tuple[int, int]) -> None:
    """ShapeError when the zoo or spec trunk cannot give the detector a grid at ``image_size``
    (H, W): a cheap probe on one blank image, run before any data is loaded."""
    from cnnkit.nn.build import build_trunk

    trunk = build_trunk(name_or_spec, in_channels=1, purpose="a detection head")
    # a spec's trunk takes the channels it was written for; the data's channels are checked later
    _checked_grid(trunk, _first_in_channels(trunk) or 1, image_size, name_or_spec)


def build_yolo(
    name_or_spec: str | nn.Module,
    *,
    num_classes: int,
    anchors: Tensor | Sequence[Sequence[float]],
    image_size: tuple[int, int],
    in_channels: int = 1,
    grid: int | None = None,
    head_width: int = 64,
    generator: torch.Generator | None = None,
) -> YoloDetector:
    """A detector whose trunk is the ``.features`` of a zoo model, a spec model or a given module.

    ``image_size`` (H, W) is the scene size; the trunk's output grid at that size must be
    square and at least 2x2. ``grid`` (optional) asks for a coarser S: when the trunk's grid
    is a multiple k of it, a 3x3 convolution with stride k (+ BN + ReLU) is added.
    ``generator``: draw every initial weight from it
    (:func:`cnnkit.nn.seeded_init.init_from_generator`), so the same seed gives the same
    detector; None keeps the layers' own initialization (torch's global generator).
    """
    what = name_or_spec if isinstance(name_or_spec, str) else type(name_or_spec).__name__
    from cnnkit.nn.build import build_trunk

    trunk = build_trunk(name_or_spec, in_channels=in_channels, purpose="a detection head")
    channels, rows = _checked_grid(trunk, in_channels, image_size, what)
    if grid is not None and grid != rows:
        if grid < 1 or grid > rows or rows % grid:
            raise ShapeError(
                f"{what}'s trunk gives a {rows}x{rows} grid, which cannot be strided down to {grid}x{grid}; "
                f"ask for a grid that divides {rows} (or leave grid unset)"
            )
        k = rows // grid
        trunk = nn.Sequential(
            OrderedDict(
                trunk=trunk,
                stride_conv=nn.Conv2d(channels, channels, 3, stride=k, padding=1, bias=False),
                stride_bn=nn.BatchNorm2d(channels),
                stride_relu=nn.ReLU(inplace=True),
            )
        )
        rows = grid
    detector = YoloDetector(
        trunk, num_classes=num_classes, anchors=anchors, grid=rows, backbone_channels=channels,
        head_width=head_width, in_channels=in_channels,
    )
    if generator is not None:
        from cnnkit.nn.seeded_init import init_from_generator

        init_from_generator(detector, generator)
        detector.set_objectness_prior()
    return detector
