"""Find faces in real photos with a tiny face / non-face classifier and sliding windows.

The data is scikit-image's bundled LFW subset (:func:`load_lfw_subset`): 200 grey 25x25
crops, the first 100 faces (eyebrows to chin, tightly cropped), the last 100 non-faces
(pieces of the same photos' backgrounds). A spec CNN with a Flatten + Linear head
(:data:`FACE_SPEC`) learns them in seconds; :func:`cnnkit.detect.sliding.to_fully_conv`
then scores every 25x25 window of a photo pyramid in one pass per scale, and NMS keeps
the best of overlapping windows.

100 negatives are far too few to reject everything a photo holds, so
:func:`train_face_finder` uses the classic HARD-NEGATIVE MINING step: windows of bundled
photos WITHOUT people (:data:`NEGATIVE_PHOTOS`: a cat, coffee, a rocket, coins, text, ...)
that the current classifier calls faces become extra negatives, and it trains again. The
photos searched for faces (astronaut, cameraman, Grace Hopper) are never mined.

Pixels: the classifier reads grey float (N, 1, 25, 25) in [0, 1] (uint8 / 255).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.data.augment import Augment, AugmentConfig
from cnnkit.detect.sliding import (
    Detections,
    FullyConvNet,
    detect,
    pyramid,
    to_fully_conv,
)
from cnnkit.errors import DataError

FACE_SPEC = (
    "INPUT(1x25x25) -> CONV(16, k=3) -> RELU -> POOL -> CONV(32, k=3) -> RELU -> POOL"
    " -> FC(64) -> RELU -> DROPOUT(0.3) -> FC(2)"
)  # no padding, so the convolutional form is exact; stride 4 between windows
NEGATIVE_PHOTOS = ("chelsea", "coffee", "rocket", "coins", "brick", "grass", "gravel", "page",
                   "text", "moon", "clock", "hubble_deep_field", "immunohistochemistry")
DEFAULT_SCALES = tuple(0.7 * 0.8**i for i in range(10))  # windows of 36 to 268 pixels


@dataclass
class FaceFinder:
    """A trained face classifier (logits (N, 2): non-face, face) and its sliding form."""

    model: torch.nn.Module
    net: FullyConvNet
    holdout_accuracy: float  # on LFW images never trained on
    hard_negatives: int  # windows mined from photos without faces
    history: list[str] = field(default_factory=list)  # one line per training round


def load_lfw_subset() -> tuple[Tensor, Tensor]:
    """scikit-image's LFW subset: images uint8 (200, 1, 25, 25), labels int64 (200,), 1 = face."""
    from skimage import data

    raw = np.asarray(data.lfw_subset())  # (200, 25, 25) float64 in [0, 1]
    if raw.shape != (200, 25, 25):
        raise DataError(f"scikit-image's lfw_subset() gave shape {raw.shape}, expected (200, 25, 25); check scikit-image")
    images = torch.from_numpy(np.round(raw * 255).astype(np.uint8))[:, None]
    labels = torch.cat([torch.ones(100), torch.zeros(100)]).long()  # faces first, then non-faces
    return images, labels


def grey(image: np.ndarray | Tensor) -> Tensor:
    """A photo (H, W), (H, W, 3|4) uint8 or bool -> float (1, H, W) in [0, 1] (ITU-R 601 luma)."""
    x = torch.as_tensor(np.array(image))  # a copy: bundled arrays may be read-only
    if x.dtype == torch.bool:
        x = x.to(torch.uint8) * 255
    x = x.float() / 255.0
    if x.dim() == 3:
        x = (x[..., :3] * torch.tensor([0.299, 0.587, 0.114])).sum(-1)
    return x[None]


def _split(labels: Tensor, holdout: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Stratified train / held-out indices."""
    train, test = [], []
    for cls in (0, 1):
        idx = torch.nonzero(labels == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n = round(len(idx) * holdout)
        test.append(idx[:n])
        train.append(idx[n:])
    return torch.cat(train), torch.cat(test)


def _fit(model: torch.nn.Module, x: Tensor, y: Tensor, *, steps: int, generator: torch.Generator) -> None:
    """Adam on uint8 images x (N, 1, 25, 25): ``steps`` balanced batches (32 faces, 32
    non-faces, drawn with replacement, so mined negatives do not drown the 80 faces) with
    flips, shifts, small rotations and zoom, and brightness / contrast jitter (photos are lit
    differently from LFW)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steps this small run several times faster on one thread
    model.train()
    try:
        _steps(model, x, y, steps=steps, generator=generator)
    finally:
        torch.set_num_threads(threads)
        model.eval()


def _steps(model: torch.nn.Module, x: Tensor, y: Tensor, *, steps: int, generator: torch.Generator) -> None:
    augment = Augment(AugmentConfig(crop_padding=2, flip=True, rotate=8.0, scale=0.08, fill=0.5))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    faces, others = torch.nonzero(y == 1).flatten(), torch.nonzero(y == 0).flatten()
    target = torch.cat([torch.ones(32), torch.zeros(32)]).long()
    for _ in range(steps):
        pick = torch.cat([faces[torch.randint(len(faces), (32,), generator=generator)],
                          others[torch.randint(len(others), (32,), generator=generator)]])
        batch = augment(x[pick].float() / 255.0, generator)
        gain = 0.6 + 0.8 * torch.rand(64, 1, 1, 1, generator=generator)
        bias = 0.2 * (torch.rand(64, 1, 1, 1, generator=generator) - 0.5)
        mean = batch.mean(dim=(2, 3), keepdim=True)
        batch = ((batch - mean) * gain + mean + bias).clamp(0, 1)
        loss = F.cross_entropy(model(batch), target)
        opt.zero_grad()
        loss.backward()
        opt.step()


def accuracy(model: torch.nn.Module, images: Tensor, labels: Tensor) -> float:
    """Fraction of uint8 images (N, 1, 25, 25) classified as ``labels`` (N,)."""
    with torch.no_grad():
        return float((model(images.float() / 255.0).argmax(1) == labels).float().mean())


def mine_hard_negatives(
    net: FullyConvNet, photos: Sequence[Tensor], *, scales: Sequence[float], threshold: float = 0.3,
    per_photo: int = 150,
) -> Tensor:
    """Windows of face-free ``photos`` (each float (1, H, W)) that ``net`` scores above
    ``threshold`` as faces, the ``per_photo`` highest of each photo: uint8 (M, 1, 25, 25)."""
    found = []
    h, w = net.window
    with torch.no_grad():
        for photo in photos:
            crops, scores = [], []
            for img, _, _ in pyramid(photo, scales, min_size=net.window):
                prob = net(img[None])[0].softmax(0)[1]  # (R, Q)
                r, q = torch.nonzero(prob > threshold, as_tuple=True)
                views = img.unfold(1, h, net.stride).unfold(2, w, net.stride)  # (1, R, Q, h, w)
                crops.append(views[:, r, q].permute(1, 0, 2, 3))  # (k, 1, h, w)
                scores.append(prob[r, q])
            if crops:
                all_crops, all_scores = torch.cat(crops), torch.cat(scores)
                top = all_scores.argsort(descending=True)[:per_photo]
                found.append(all_crops[top])
    if not found:
        return torch.zeros(0, 1, h, w, dtype=torch.uint8)
    return (torch.cat(found) * 255).round().clamp(0, 255).to(torch.uint8)


def negative_photos(names: Sequence[str] = NEGATIVE_PHOTOS, *, max_side: int = 400) -> list[Tensor]:
    """scikit-image's bundled photos without people, grey float (1, H, W), at most ``max_side``."""
    from skimage import data

    out = []
    for name in names:
        img = grey(getattr(data, name)())
        side = max(img.shape[1:])
        if side > max_side:
            img = pyramid(img, [max_side / side])[0][0]
        out.append(img)
    return out


def train_face_finder(
    *, seed: int = 0, steps: int = 300, holdout: float = 0.2, mining_rounds: int = 2,
    negatives: Sequence[Tensor] | None = None, scales: Sequence[float] = DEFAULT_SCALES,
) -> FaceFinder:
    """Train :data:`FACE_SPEC` on the LFW subset (``holdout`` of it kept aside, stratified),
    then ``mining_rounds`` times add the false faces found in ``negatives`` (default
    :func:`negative_photos`) and train again from the same start. Seconds on a CPU."""
    import cnnkit

    gen = torch.Generator().manual_seed(seed)
    images, labels = load_lfw_subset()
    train, test = _split(labels, holdout, gen)
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
        torch.manual_seed(seed)
        model = cnnkit.from_spec(FACE_SPEC)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = images[train], labels[train]
    photos = negative_photos() if negatives is None and mining_rounds else list(negatives or [])
    history, mined = [], 0
    for round_ in range(mining_rounds + 1):
        model.load_state_dict(start)
        _fit(model, x, y, steps=steps, generator=gen)
        acc = accuracy(model, images[test], labels[test])
        history.append(f"round {round_}: {len(x)} training crops ({mined} mined), held-out accuracy {acc:.3f}")
        if round_ == mining_rounds:
            break
        hard = mine_hard_negatives(to_fully_conv(model), photos, scales=scales)
        mined += len(hard)
        x, y = torch.cat([x, hard]), torch.cat([y, torch.zeros(len(hard), dtype=torch.int64)])
    return FaceFinder(model, to_fully_conv(model), acc, mined, history)


def find_faces(
    finder: FaceFinder | FullyConvNet, photo: np.ndarray | Tensor, *, scales: Sequence[float] = DEFAULT_SCALES,
    threshold: float = 0.9, iou: float = 0.2, max_faces: int = 20,
) -> Detections:
    """Faces in ``photo`` (a grey float (1, H, W) tensor, or any array :func:`grey` reads):
    boxes (K, 4) xyxy photo pixels, face probabilities (K,), labels (all 1), best first."""
    net = finder.net if isinstance(finder, FaceFinder) else finder
    image = photo if isinstance(photo, Tensor) and photo.dim() == 3 and photo.is_floating_point() else grey(photo)
    return detect(net, image, scales=scales, threshold=threshold, iou=iou, classes=[1], max_detections=max_faces)


FACE_CLASSES = ("non-face", "face")  # the classifier's outputs; detections are class 1


def draw_detections(ax: object, photo: Tensor, found: Detections, *, title: str = "") -> None:
    """Show grey ``photo`` (1, H, W) in [0, 1] on a matplotlib ``ax`` with each face box and
    its score (cnnkit.detect.draw's drawing, shared with `cnnkit detect predict`)."""
    from cnnkit.detect.draw import draw_on_axes

    draw_on_axes(ax, photo, found.boxes, found.labels, classes=FACE_CLASSES, scores=found.scores,  # type: ignore[arg-type]
                 title=title or None, font_size=8.0)
