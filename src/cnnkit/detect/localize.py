"""Classification with localization, and landmarks: the lecture's single-object target vector.

One image holds one object or none. Its target is one vector (D = 5 + n + 2P numbers)::

    y = [p_c, b_x, b_y, b_h, b_w, c_1 .. c_n, l_1x, l_1y, .., l_Px, l_Py]

- ``p_c``: 1 when the image holds an object, else 0 (and every other entry is 0 and ignored);
- ``b_x, b_y``: the box centre as fractions of the image width and height (0 = left/top
  edge, 1 = right/bottom edge); ``b_h, b_w``: the full box height and width as fractions of
  the image height and width (the lecture's convention with the whole image as the one cell,
  :func:`cnnkit.detect.boxes.encode_bxbyhw` with ``grid=1``);
- ``c_1 .. c_n``: the class, one-hot;
- ``l_kx, l_ky``: landmark k as fractions of the image width and height, in the fixed order
  of the dataset's ``landmark_names`` (for scenes: centre, then the corners clockwise from
  the top left). The order must mean the same point in every image, or the regression
  learns an average of different points.

The model (:class:`Localizer`) outputs the same layout, raw: a p_c logit, four box numbers,
n class logits and 2P landmark numbers. The loss (:func:`localize_loss`) per image i is::

    L_i = w_pc * BCE(sigmoid(z_pc), p_c)
          + p_c * ( w_box * sum_4 (b^ - b)^2  +  w_cls * CE(z_c, class)  +  w_lm * sum_2P (l^ - l)^2 )

averaged over the batch: a p_c = 0 image contributes its logistic p_c term only (the rest of
its outputs get zero gradient), as the lecture says. Squared error on the box and landmarks,
logistic loss on p_c and cross-entropy on the classes follow the lecture's suggestion; the
weights (:class:`LocalizeLossWeights`) make the box and landmark errors, which are small
fractions, count about as much as the two classification terms.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.detect.boxes import decode_bxbyhw, encode_bxbyhw
from cnnkit.detect.sample import Targets
from cnnkit.errors import DataError, ModelError, ShapeError
from cnnkit.nn.pixel_stats import PixelStats

__all__ = [
    "Localization",
    "LocalizeLossWeights",
    "Localizer",
    "VectorLayout",
    "build_localizer",
    "decode_vectors",
    "encode_targets",
    "localize_loss",
]


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class VectorLayout:
    """Where each part sits in the D = 5 + n + 2P numbers of a target or output vector."""

    num_classes: int
    num_landmarks: int

    @property
    def size(self) -> int:
        return 5 + self.num_classes + 2 * self.num_landmarks

    @property
    def box(self) -> slice:
        return slice(1, 5)

    @property
    def classes(self) -> slice:
        return slice(5, 5 + self.num_classes)

    @property
    def landmarks(self) -> slice:
        return slice(5 + self.num_classes, self.size)


def encode_targets(
    targets: Sequence[Targets], *, image_size: tuple[int, int], num_classes: int, num_landmarks: int
) -> Tensor:
    """Per-image targets (0 or 1 object each) -> float32 (N, 5 + n + 2P) lecture vectors.

    Raises DataError for an image with more than one object, a label outside 0..n-1, or
    landmarks missing or of the wrong count when ``num_landmarks > 0``.
    """
    layout = VectorLayout(num_classes, num_landmarks)
    height, width = image_size
    y = torch.zeros(len(targets), layout.size)
    for i, t in enumerate(targets):
        if len(t) == 0:
            continue
        if len(t) > 1:
            raise DataError(
                f"image {i} has {len(t)} objects; localization takes one object or none per image "
                "(use one-object scenes, or the YOLO detector for several)"
            )
        label = int(t.labels[0])
        if not 0 <= label < num_classes:
            raise DataError(f"image {i} has class {label}, outside 0..{num_classes - 1}")
        y[i, 0] = 1.0
        values, _ = encode_bxbyhw(t.boxes.float().cpu(), image_size=image_size, grid=1)
        y[i, layout.box] = values[0]
        y[i, 5 + label] = 1.0
        if num_landmarks:
            marks = t.landmarks
            if marks is None or tuple(marks.shape[1:]) != (num_landmarks, 2):
                got = None if marks is None else tuple(marks.shape)
                raise DataError(f"image {i} needs landmarks of shape (1, {num_landmarks}, 2), got {got}")
            scale = torch.tensor([width, height], dtype=torch.float32)
            y[i, layout.landmarks] = (marks[0].float().cpu() / scale).reshape(-1)
    return y


@dataclass
class Localization:
    """Decoded vectors for N images: ``p_object`` (N,) in 0..1, ``boxes`` (N, 4) xyxy pixels,
    ``labels`` (N,) int64, ``class_scores`` (N, n) (softmax for outputs, one-hot for targets)
    and ``landmarks`` (N, P, 2) (x, y) pixels. Box, class and landmarks are the model's
    answer *if* there is an object; read them where ``p_object >= 0.5``."""

    p_object: Tensor
    boxes: Tensor
    labels: Tensor
    class_scores: Tensor
    landmarks: Tensor


def decode_vectors(
    y: Tensor, *, image_size: tuple[int, int], num_classes: int, num_landmarks: int, logits: bool = True
) -> Localization:
    """(N, 5 + n + 2P) vectors -> :class:`Localization` in pixels.

    ``logits=True`` (model outputs): p_c is a logit (sigmoid applied), the classes are
    logits (softmax) and negative b_h, b_w are read as 0. ``logits=False`` (targets from :func:`encode_targets`): taken as is.
    """
    layout = VectorLayout(num_classes, num_landmarks)
    if y.dim() != 2 or y.shape[1] != layout.size:
        raise ShapeError(
            f"vectors must be (N, {layout.size}) = 5 + {num_classes} classes + 2 x {num_landmarks} landmarks, "
            f"got {tuple(y.shape)}"
        )
    height, width = image_size
    p = torch.sigmoid(y[:, 0]) if logits else y[:, 0]
    cls = y[:, layout.classes]
    scores = cls.softmax(dim=1) if logits else cls
    values = y[:, layout.box]
    if logits:  # a raw output can say a negative size; read it as an empty box, never an inverted one
        values = torch.cat([values[:, :2], values[:, 2:].clamp(min=0)], dim=1)
    boxes = decode_bxbyhw(values, image_size=image_size, grid=1)
    scale = torch.tensor([width, height], dtype=y.dtype, device=y.device)
    marks = y[:, layout.landmarks].reshape(len(y), num_landmarks, 2) * scale
    return Localization(p, boxes, scores.argmax(dim=1), scores, marks)


# --------------------------------------------------------------------------- loss
@dataclass(frozen=True)
class LocalizeLossWeights:
    """Weights of the four loss terms (see the module docstring)."""

    p_object: float = 1.0
    box: float = 20.0  # box numbers are fractions of the image: errors of 0.05 would barely count at 1
    classes: float = 1.0
    landmarks: float = 10.0  # 2P numbers summed, so a smaller weight per number than the box


def localize_loss(
    output: Tensor, target: Tensor, *, num_classes: int, num_landmarks: int,
    weights: LocalizeLossWeights | None = None,
) -> dict[str, Tensor]:
    """The lecture's loss for (N, D) raw outputs against (N, D) target vectors.

    Returns the batch means ``loss`` (the weighted total), and the unweighted parts
    ``p_object``, ``box``, ``classes``, ``landmarks`` (each averaged over all N images, the
    last three being 0 for p_c = 0 images).
    """
    w = weights or LocalizeLossWeights()
    layout = VectorLayout(num_classes, num_landmarks)
    if output.shape != target.shape or output.dim() != 2 or output.shape[1] != layout.size:
        raise ShapeError(f"outputs {tuple(output.shape)} and targets {tuple(target.shape)} must both be "
                         f"(N, {layout.size})")
    present = target[:, 0]  # (N,) 0 or 1
    pc = F.binary_cross_entropy_with_logits(output[:, 0], present, reduction="none")
    box = (output[:, layout.box] - target[:, layout.box]).pow(2).sum(dim=1)
    cls = F.cross_entropy(output[:, layout.classes], target[:, layout.classes].argmax(dim=1), reduction="none")
    lm = (output[:, layout.landmarks] - target[:, layout.landmarks]).pow(2).sum(dim=1)
    # where() rather than a product: a p_c = 0 image's other outputs get exactly zero gradient
    # even if a term were inf/NaN for them.
    mask = present > 0.5
    zero = torch.zeros_like(pc)
    box, cls, lm = (torch.where(mask, term, zero) for term in (box, cls, lm))
    total = w.p_object * pc + w.box * box + w.classes * cls + w.landmarks * lm
    return {"loss": total.mean(), "p_object": pc.mean(), "box": box.mean(), "classes": cls.mean(),
            "landmarks": lm.mean()}


# --------------------------------------------------------------------------- model
class Localizer(PixelStats):
    """A conv trunk plus two heads giving one D-vector per image.

    ``forward(x)``: normalized float (N, C, H, W) -> (N, 5 + n + 2P) raw outputs.

    - Where (p_c, box, landmarks): 1x1 conv to ``squeeze`` channels, adaptive average pool to
      at most 8x8 (keeps *where* things are, which a global pool would lose), flatten, FC
      ``hidden``, ReLU, FC 5 + 2P.
    - What (class logits): global max pool of the trunk, FC n. A class does not depend on
      where the object sits, so this head is translation invariant, as a classifier's is;
      through the position-keeping FC the class had to be learnt again at every place and
      came out far worse (class accuracy 0.44 against 0.74 on held-out scenes, same 6 epochs).

    Buffers ``mean``/``std`` (C,) on the 0..1 scale feed :meth:`normalize`.
    """

    def __init__(self, trunk: nn.Module, *, trunk_channels: int, trunk_grid: tuple[int, int], num_classes: int,
                 num_landmarks: int, in_channels: int = 1, hidden: int = 256, squeeze: int = 32) -> None:
        super().__init__()
        if min(num_classes, trunk_channels, hidden, squeeze) < 1 or num_landmarks < 0:
            raise ModelError("num_classes, trunk_channels, hidden and squeeze must be positive, num_landmarks >= 0")
        self.layout = VectorLayout(int(num_classes), int(num_landmarks))
        pool = (min(trunk_grid[0], 8), min(trunk_grid[1], 8))
        self.features = trunk
        self.head = nn.Sequential(OrderedDict(
            squeeze=nn.Conv2d(trunk_channels, squeeze, 1, bias=False),
            bn=nn.BatchNorm2d(squeeze),
            relu=nn.ReLU(inplace=True),
            pool=nn.AdaptiveAvgPool2d(pool),
            flatten=nn.Flatten(),
            fc1=nn.Linear(squeeze * pool[0] * pool[1], hidden),
            relu1=nn.ReLU(inplace=True),
            fc2=nn.Linear(hidden, self.layout.size - self.layout.num_classes),
        ))  # fmt: skip
        self.classify = nn.Sequential(OrderedDict(
            pool=nn.AdaptiveMaxPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(trunk_channels, self.layout.num_classes),
        ))  # fmt: skip
        self.register_pixel_stats(in_channels)

    @property
    def num_classes(self) -> int:
        return self.layout.num_classes

    @property
    def num_landmarks(self) -> int:
        return self.layout.num_landmarks

    def forward(self, x: Tensor) -> Tensor:
        fmap = self.features(x)
        where = self.head(fmap)  # (N, 5 + 2P): p_c, box, landmarks
        return torch.cat([where[:, :5], self.classify(fmap), where[:, 5:]], dim=1)  # the lecture's order

    @torch.no_grad()
    def predict(self, images: Tensor, *, batch_size: int = 128) -> Localization:
        """uint8 (N, C, H, W) images -> :class:`Localization` in pixels (eval mode)."""
        was_training = self.training
        self.eval()
        try:
            device = self.mean.device
            out = torch.cat([self(self.normalize(images[s : s + batch_size].to(device))).cpu()
                             for s in range(0, len(images), batch_size)]) if len(images) else \
                torch.zeros(0, self.layout.size)
        finally:
            self.train(was_training)
        return decode_vectors(out, image_size=tuple(images.shape[-2:]), num_classes=self.num_classes,
                              num_landmarks=self.num_landmarks)


def build_localizer(
    name_or_spec: str | nn.Module, *, num_classes: int, num_landmarks: int, image_size: tuple[int, int],
    in_channels: int = 1, hidden: int = 256, generator: torch.Generator | None = None,
) -> Localizer:
    """A :class:`Localizer` on the ``.features`` of a zoo model, a spec model or a given module.

    The trunk must turn (1, in_channels, H, W) images into a (1, C, h, w) feature map.
    ``generator``: draw every initial weight from it
    (:func:`cnnkit.nn.seeded_init.init_from_generator`), so the same seed gives the same
    model; None keeps the layers' own initialization (torch's global generator).
    """
    what = name_or_spec if isinstance(name_or_spec, str) else type(name_or_spec).__name__
    from cnnkit.nn.build import build_trunk

    trunk = build_trunk(name_or_spec, in_channels=in_channels, purpose="a localization head")
    trunk.eval()
    try:
        with torch.no_grad():
            out = trunk(torch.zeros(1, in_channels, *image_size))
    except RuntimeError as err:
        raise ShapeError(f"{what}'s trunk cannot take {in_channels}x{image_size[0]}x{image_size[1]} images "
                         f"({str(err).splitlines()[0]}); pick a model that fits the canvas size") from None
    finally:
        trunk.train()
    if out.dim() != 4:
        raise ShapeError(f"{what}'s trunk gives a {tuple(out.shape)} tensor, not a (N, C, h, w) feature map; "
                         "the localization head needs a convolutional trunk")
    model = Localizer(trunk, trunk_channels=int(out.shape[1]), trunk_grid=(int(out.shape[2]), int(out.shape[3])),
                      num_classes=num_classes, num_landmarks=num_landmarks, in_channels=in_channels, hidden=hidden)
    if generator is not None:
        from cnnkit.nn.seeded_init import init_from_generator

        init_from_generator(model, generator)
    return model
