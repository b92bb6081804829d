"""Sliding-window detection with a classifier: naive crops, and the same windows in one pass.

A classifier trained on ``(C, h, w)`` crops becomes a detector by scoring every ``h x w``
window of a bigger image, at several scales, and keeping the confident windows after
non-max suppression. Two ways to score the windows give the same numbers:

- :func:`naive_windows` crops each window and runs the classifier on batches of crops;
- :func:`to_fully_conv` rewrites the classifier as a fully convolutional network
  (:class:`FullyConvNet`) whose one forward pass over the whole image gives a score map:
  cell ``(i, j)`` is the classifier's output for the window whose top-left corner is
  ``(x, y) = (j * stride, i * stride)``, with ``stride`` the product of the trunk's strides.
  The first ``Linear`` after the flatten becomes a ``Conv2d`` with kernel = the feature-map
  size (its weight is the same numbers, viewed as (out, C, h', w') because ``Flatten`` reads
  (C, h', w') in that order); later ``Linear`` layers become 1x1 convolutions.

Scales: both functions use an IMAGE PYRAMID: the image is resized by each factor ``f``
(bilinear, antialiased) to ``round(H * f) x round(W * f)`` and windows of the classifier's
own size slide over the resized image; a window ``(x, y, x + w, y + h)`` there maps back to
``(x * W / W_f, y * H / H_f, ...)`` in ORIGINAL pixels (the exact ratio of the rounded sizes,
not ``1 / f``). ``f < 1`` finds objects bigger than the window.

Exactness: the score map equals the naive windows (to float rounding) when the trunk has no
padding and no ``ceil_mode`` pooling (:attr:`FullyConvNet.exact`); with padding the map still
describes the same windows, but pixels next to a window replace the zeros it was trained
with, so its scores differ near the window border (the usual, accepted approximation).

Global pools: ``AdaptiveAvgPool2d(1)`` / ``AdaptiveMaxPool2d(1)`` (GAP, GMP) on a fixed
window are an average / max over the whole feature map, so they become ``AvgPool2d`` /
``MaxPool2d`` with kernel = the window's feature-map size and stride 1 (exact). An adaptive
pool whose output equals its input becomes the identity; one whose input side is a multiple
of its output side becomes a plain pool (kernel = stride = the ratio); other adaptive pools
cannot be converted (:class:`~cnnkit.errors.ModelError`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms

from cnnkit.errors import ModelError, ShapeError

__all__ = [
    "Detections",
    "FullyConvNet",
    "conv_windows",
    "detect",
    "naive_windows",
    "pyramid",
    "to_fully_conv",
    "window_boxes",
    "windows_to_detections",
]

_ELEMENTWISE = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.Dropout, nn.Identity,
)  # act on each value alone: the same before and after the flatten
_CONVERTS = (
    "Conv2d, MaxPool2d, AvgPool2d, StochasticPool2d, BatchNorm2d, adaptive pools, activations and "
    "Dropout before the Flatten; Linear, BatchNorm1d, activations, Dropout and Softmax(dim=1) after it"
)


@dataclass
class Detections:
    """Boxes found in one image: boxes (K, 4) xyxy ORIGINAL pixels, scores (K,), labels (K,)."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.scores.shape[0])


class FullyConvNet(nn.Module):
    """A classifier rewritten as convolutions: (N, C, H, W) -> score map (N, classes, H', W').

    ``H' = (H - window[0]) // stride + 1`` (likewise W'): only cells whose whole window lies
    inside the image are kept. Cell ``(i, j)`` scores the window at rows ``i*stride ..
    i*stride + window[0]`` and columns ``j*stride .. j*stride + window[1]``.
    """

    def __init__(self, body: nn.Sequential, *, window: tuple[int, int], stride: int, exact: bool) -> None:
        super().__init__()
        self.body = body
        self.window = window  # (h, w) of the classifier input
        self.stride = stride  # input pixels between neighbouring cells
        self.exact = exact  # True when cells equal the classifier on crops

    def forward(self, x: Tensor) -> Tensor:
        h, w = self.window
        if x.dim() != 4 or x.shape[2] < h or x.shape[3] < w:
            raise ShapeError(
                f"sliding windows need an (N, C, H, W) image of at least {h}x{w}, got {tuple(x.shape)}"
            )
        out = self.body(x)  # (N, classes, >= H', >= W')
        rows = (x.shape[2] - h) // self.stride + 1
        cols = (x.shape[3] - w) // self.stride + 1
        return out[:, :, :rows, :cols]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """The layers of nested ``nn.Sequential`` containers in order; other containers are errors."""
    if isinstance(module, nn.Sequential):
        out: list[tuple[str, nn.Module]] = []
        for name, child in module.named_children():
            out += _leaves(child, f"{prefix}.{name}")
        return out
    return [(prefix, module)]


def _adaptive(layer: nn.Module, name: str, size: tuple[int, int]) -> tuple[nn.Module, int]:
    """A fixed pool equal to the adaptive ``layer`` on an input of ``size``, and its stride."""
    out = layer.output_size  # type: ignore[attr-defined]
    oh, ow = _pair(out if out is not None else size)  # type: ignore[arg-type]
    oh, ow = oh or size[0], ow or size[1]
    is_max = isinstance(layer, nn.AdaptiveMaxPool2d)
    if (oh, ow) == size:
        return nn.Identity(), 1
    if (oh, ow) == (1, 1):  # global pool over the window's feature map, at every offset
        pool = nn.MaxPool2d(size, stride=1) if is_max else nn.AvgPool2d(size, stride=1)
        return pool, 1
    if size[0] % oh == 0 and size[1] % ow == 0 and size[0] // oh == size[1] // ow:
        k = size[0] // oh
        return (nn.MaxPool2d(k) if is_max else nn.AvgPool2d(k)), k
    raise ModelError(
        f"{name}: an adaptive pool from {size[0]}x{size[1]} to {oh}x{ow} has uneven windows and "
        "cannot slide; pick a classifier input whose feature map is a multiple of the pool's output"
    )


def _trunk_layer(layer: nn.Module, name: str, size: tuple[int, int]) -> tuple[nn.Module, int, bool]:
    """(converted layer, its stride, exact?) for a layer before the flatten."""
    from cnnkit.nn.layers.stochastic_pool import StochasticPool2d

    if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        pool, stride = _adaptive(layer, name, size)
        return pool, stride, True
    if isinstance(layer, nn.Conv2d):
        padded = any(_pair(layer.padding)) if not isinstance(layer.padding, str) else layer.padding != "valid"  # type: ignore[arg-type]
        stride = _pair(layer.stride)  # type: ignore[arg-type]
        return layer, _square(stride, name), not padded
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d, StochasticPool2d)):
        stride = _pair(layer.stride if layer.stride is not None else layer.kernel_size)  # type: ignore[arg-type]
        exact = not any(_pair(layer.padding)) and not getattr(layer, "ceil_mode", False)  # type: ignore[arg-type]
        return layer, _square(stride, name), exact
    if isinstance(layer, (nn.BatchNorm2d, *_ELEMENTWISE)):
        return layer, 1, True
    raise ModelError(f"{name} ({type(layer).__name__}) cannot be turned into sliding windows; convertible: {_CONVERTS}")


def _square(stride: tuple[int, int], name: str) -> int:
    if stride[0] != stride[1]:
        raise ModelError(f"{name}: stride {stride[0]}x{stride[1]} differs by axis; sliding windows need square strides")
    return stride[0]


def _head_layer(layer: nn.Module, name: str, fmap: tuple[int, int, int], first: bool) -> nn.Module:
    """The convolutional form of a layer after the flatten (fmap = (C, h', w') before it)."""
    if isinstance(layer, nn.Linear):
        c, h, w = fmap if first else (layer.in_features, 1, 1)
        conv = nn.Conv2d(c, layer.out_features, (h, w), bias=layer.bias is not None)
        with torch.no_grad():  # Flatten reads (C, h', w') row-major: the same numbers, viewed
            conv.weight.copy_(layer.weight.reshape(layer.out_features, c, h, w))
            if layer.bias is not None:
                conv.bias.copy_(layer.bias)
        return conv.to(layer.weight.device, layer.weight.dtype)
    if isinstance(layer, nn.BatchNorm1d):
        bn = nn.BatchNorm2d(layer.num_features, eps=layer.eps, affine=layer.affine,
                            track_running_stats=layer.track_running_stats)
        bn.load_state_dict(layer.state_dict())
        return bn
    if isinstance(layer, nn.Softmax) and layer.dim in (1, -3):
        return nn.Softmax(dim=1)
    if isinstance(layer, _ELEMENTWISE):
        return layer
    raise ModelError(f"{name} ({type(layer).__name__}) cannot be turned into sliding windows; convertible: {_CONVERTS}")


def to_fully_conv(model: nn.Module, *, input_shape: Sequence[int] | None = None) -> FullyConvNet:
    """Rewrite a classifier ``features -> [pools] -> Flatten -> Linear ...`` as a fully
    convolutional :class:`FullyConvNet` (a copy in eval mode; ``model`` is not changed).

    ``input_shape`` is the classifier's (C, h, w); spec models know theirs. Raises
    :class:`~cnnkit.errors.ModelError` for heads and layers that do not convert (the message
    lists those that do).
    """
    shape = tuple(input_shape) if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None or len(shape) != 3:
        raise ModelError("sliding windows need the classifier's 2-D input shape: pass input_shape=(C, h, w)")
    if not isinstance(model, nn.Module) or not hasattr(model, "features") or not hasattr(model, "head"):
        raise ModelError("sliding windows need a CnnModel (features + head); build one with cnnkit.build")
    model = copy.deepcopy(model).eval()
    layers = _leaves(model.features, "features") + _leaves(model.head, "head")
    flat = [i for i, (_, layer) in enumerate(layers) if isinstance(layer, nn.Flatten)]
    if len(flat) != 1:
        raise ModelError(
            f"sliding windows need exactly one Flatten between the trunk and the classifier, found {len(flat)}; "
            f"convertible layers: {_CONVERTS}"
        )
    param = next(model.parameters(), None)
    x = torch.zeros(1, *shape, device=param.device if param is not None else "cpu",
                    dtype=param.dtype if param is not None else torch.float32)
    body: list[nn.Module] = []
    stride, exact = 1, True
    with torch.no_grad():
        for name, layer in layers[: flat[0]]:
            if x.dim() != 4:
                raise ModelError(f"{name}: sliding windows work on 2-D images, got a {x.dim() - 2}-D feature map")
            new, s, ok = _trunk_layer(layer, name, (int(x.shape[2]), int(x.shape[3])))
            x = layer(x)  # the original layer gives the window's own feature-map size
            body.append(new)
            stride, exact = stride * s, exact and ok
    fmap = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
    linears = 0
    for name, layer in layers[flat[0] + 1 :]:
        body.append(_head_layer(layer, name, fmap, first=linears == 0))
        linears += isinstance(layer, nn.Linear)
    if linears == 0 and fmap[1:] != (1, 1):
        raise ModelError(
            f"the classifier flattens a {fmap[1]}x{fmap[2]} map without a Linear layer after it; "
            "sliding windows need a Linear head or a feature map of 1x1"
        )
    net = FullyConvNet(nn.Sequential(*body), window=(int(shape[1]), int(shape[2])), stride=stride, exact=exact)
    return net.eval()  # new BatchNorm2d layers start in training mode


def pyramid(image: Tensor, scales: Sequence[float], *, min_size: tuple[int, int] = (1, 1)) -> list[tuple[Tensor, float, float]]:
    """Resized copies of ``image`` (C, H, W) float: ``(resized, sx, sy)`` per scale that still
    holds ``min_size`` (h, w); ``sx = W / W_f`` and ``sy = H / H_f`` map resized pixels back."""
    if image.dim() != 3:
        raise ShapeError(f"expected one (C, H, W) image, got shape {tuple(image.shape)}")
    out = []
    _, hh, ww = image.shape
    for f in scales:
        if f <= 0:
            raise ShapeError(f"pyramid scales must be > 0, got {f}")
        h, w = max(1, round(hh * f)), max(1, round(ww * f))
        if h < min_size[0] or w < min_size[1]:
            continue  # the window no longer fits
        resized = image if (h, w) == (hh, ww) else F.interpolate(
            image[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True
        )[0]
        out.append((resized, ww / w, hh / h))
    return out


def window_boxes(rows: int, cols: int, *, window: tuple[int, int], stride: int, sx: float = 1.0, sy: float = 1.0) -> Tensor:
    """Boxes (rows*cols, 4) xyxy of a window grid, row-major, scaled back by (sx, sy)."""
    y = torch.arange(rows, dtype=torch.float32) * stride
    x = torch.arange(cols, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    boxes = torch.stack([xx, yy, xx + window[1], yy + window[0]], dim=-1).reshape(-1, 4)
    return boxes * torch.tensor([sx, sy, sx, sy])


def naive_windows(
    model: nn.Module, image: Tensor, *, window: tuple[int, int], stride: int,
    scales: Sequence[float] = (1.0,), batch_size: int = 512,
) -> tuple[Tensor, Tensor]:
    """Crop every ``window`` (h, w) at ``stride`` over an image pyramid of ``image`` (C, H, W)
    float and classify the crops in batches. Returns (scores (K, classes), boxes (K, 4) xyxy
    original pixels), scales in order, windows row-major within a scale."""
    if stride < 1 or batch_size < 1:
        raise ShapeError(f"stride and batch_size must be >= 1, got {stride} and {batch_size}")
    scores, boxes = [], []
    with torch.no_grad():
        for img, sx, sy in pyramid(image, scales, min_size=window):
            crops = img.unfold(1, window[0], stride).unfold(2, window[1], stride)  # (C, R, Q, h, w), a view
            rows, cols = crops.shape[1], crops.shape[2]
            crops = crops.permute(1, 2, 0, 3, 4).reshape(rows * cols, img.shape[0], *window)
            scores += [model(crops[i : i + batch_size]) for i in range(0, len(crops), batch_size)]
            boxes.append(window_boxes(rows, cols, window=window, stride=stride, sx=sx, sy=sy))
    if not boxes:
        return torch.zeros(0, 0), torch.zeros(0, 4)
    return torch.cat(scores), torch.cat(boxes)


def conv_windows(net: FullyConvNet, image: Tensor, *, scales: Sequence[float] = (1.0,)) -> tuple[Tensor, Tensor]:
    """The same windows as :func:`naive_windows` at ``net.stride``, one forward pass per scale.
    Returns (scores (K, classes), boxes (K, 4) xyxy original pixels)."""
    scores, boxes = [], []
    with torch.no_grad():
        for img, sx, sy in pyramid(image, scales, min_size=net.window):
            smap = net(img[None])[0]  # (classes, R, Q)
            scores.append(smap.flatten(1).T)  # (R*Q, classes), row-major like the boxes
            boxes.append(window_boxes(smap.shape[1], smap.shape[2], window=net.window, stride=net.stride, sx=sx, sy=sy))
    if not boxes:
        return torch.zeros(0, 0), torch.zeros(0, 4)
    return torch.cat(scores), torch.cat(boxes)


def windows_to_detections(
    scores: Tensor, boxes: Tensor, *, threshold: float = 0.5, iou: float = 0.3,
    classes: Sequence[int] | None = None, max_detections: int = 100,
) -> Detections:
    """Logits (K, classes) and boxes (K, 4) -> softmax probabilities, the windows of ``classes``
    (default: every class but 0, the background) above ``threshold``, then per-class NMS
    (``torchvision.ops.batched_nms`` at ``iou``), best first."""
    if len(boxes) == 0:
        return Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64))
    probs = scores.float().softmax(dim=1)
    wanted = list(range(1, probs.shape[1])) if classes is None else [int(c) for c in classes]
    if not wanted or min(wanted) < 0 or max(wanted) >= probs.shape[1]:
        raise ShapeError(f"classes must be indices below {probs.shape[1]} (at least one), got {wanted}")
    p = probs[:, wanted]  # (K, len(wanted))
    k, c = torch.nonzero(p > threshold, as_tuple=True)
    sel_boxes, sel_scores = boxes[k].float(), p[k, c]
    labels = torch.tensor(wanted, dtype=torch.int64)[c]
    keep = batched_nms(sel_boxes, sel_scores, labels, iou)[:max_detections]
    return Detections(sel_boxes[keep], sel_scores[keep], labels[keep])


def detect(
    model: nn.Module | FullyConvNet, image: Tensor, *, scales: Sequence[float] = (1.0,),
    threshold: float = 0.5, iou: float = 0.3, classes: Sequence[int] | None = None,
    max_detections: int = 100,
) -> Detections:
    """Convolutional sliding windows over a pyramid of ``image`` (C, H, W) float, then NMS.
    ``model`` is a classifier (converted here) or a :class:`FullyConvNet`."""
    net = model if isinstance(model, FullyConvNet) else to_fully_conv(model)
    scores, boxes = conv_windows(net, image, scales=scales)
    return windows_to_detections(scores, boxes, threshold=threshold, iou=iou, classes=classes,
                                 max_detections=max_detections)
