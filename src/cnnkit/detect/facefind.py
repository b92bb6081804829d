"""Find faces in real photos with a tiny face / non-face classifier and sliding windows.

The data is scikit-image's bundled LFW subset (:func:`load_lfw_subset`): 200 grey 25x25
crops, the first 100 faces (eyebrows to chin, tightly cropped), the last 100 non-faces
(pieces of the same photos' backgrounds). A spec CNN with a Flatten + Linear head
(:data:`FACE_SPEC`) learns them in seconds; :func:`cnnkit.detect.sliding.to_fully_conv`
then scores every 25x25 window of a photo pyramid in one pass per scale, and NMS keeps
the best of overlapping windows.

100 negatives are far too few to reject everything a photo holds, so
:func:`train_face_finder` uses the classic HARD-NEGATIVE MINING step: windows of bundled
photos WITHOUT people (:data:`NEGATIVE_PHOTOS`: a cat, coffee, a rocket, coins, text, a
retina, a motorbike, ...) that the current classifier calls faces become extra negatives,
and it trains again. Options add random windows of those photos at every scale
(``random_per_photo``), made-up photos of man-made clutter (``clutter``,
:func:`clutter_photos`) and extra zoom / shift jitter for the faces (:class:`Jitter`); on
the three test photos they did not reliably beat the plain recipe (docs/detect.md), so they
are off by default. The photos searched for faces (:data:`TEST_PHOTOS`: astronaut,
cameraman, Grace Hopper) are never trained or mined on.

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

__all__ = [
    "DEFAULT_SCALES",
    "FACE_CLASSES",
    "FACE_SPEC",
    "NEGATIVE_PHOTOS",
    "TEST_PHOTOS",
    "FaceFinder",
    "Jitter",
    "accuracy",
    "clutter_photos",
    "draw_detections",
    "find_faces",
    "grey",
    "load_lfw_subset",
    "mine_hard_negatives",
    "negative_photos",
    "random_windows",
    "train_face_finder",
]

FACE_SPEC = (
    "INPUT(1x25x25) -> CONV(16, k=3) -> RELU -> POOL -> CONV(32, k=3) -> RELU -> POOL"
    " -> FC(64) -> RELU -> DROPOUT(0.3) -> FC(2)"
)  # no padding, so the convolutional form is exact; stride 4 between windows
NEGATIVE_PHOTOS = ("chelsea", "coffee", "rocket", "coins", "brick", "grass", "gravel", "page",
                   "text", "moon", "clock", "hubble_deep_field", "immunohistochemistry", "horse",
                   "logo", "cell", "retina", "colorwheel", "stereo_motorcycle", "checkerboard",
                   "binary_blobs", "microaneurysms")  # scikit-image photos without people, all offline
TEST_PHOTOS = ("astronaut", "camera", "grace_hopper")  # searched for faces: never trained or mined on
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


@dataclass(frozen=True)
class Jitter:
    """Training augmentation: geometry for every crop, plus extra zoom / shift for faces only
    (LFW crops are tighter and better centred than a face under a sliding window)."""

    shift: int = 2  # pixels, every crop
    rotate: float = 8.0  # degrees, every crop
    scale: float = 0.08  # zoom range, every crop
    face_scale: float = 0.0  # extra zoom range, faces only (0.15 was tried: see the docs)
    face_shift: int = 0  # extra pixels, faces only
    gain: tuple[float, float] = (0.6, 1.4)  # contrast factor range, every crop


def _fit(model: torch.nn.Module, x: Tensor, y: Tensor, *, steps: int, generator: torch.Generator,
         jitter: Jitter) -> None:
    """Adam on uint8 images x (N, 1, 25, 25): ``steps`` balanced batches (32 faces, 32
    non-faces, drawn with replacement, so mined negatives do not drown the 80 faces) with
    flips, shifts, small rotations and zoom (more of both for the faces), and brightness /
    contrast jitter (photos are lit differently from LFW)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steps this small run several times faster on one thread
    model.train()
    try:
        _steps(model, x, y, steps=steps, generator=generator, jitter=jitter)
    finally:
        torch.set_num_threads(threads)
        model.eval()


def _steps(model: torch.nn.Module, x: Tensor, y: Tensor, *, steps: int, generator: torch.Generator,
           jitter: Jitter) -> None:
    augment = Augment(AugmentConfig(crop_padding=jitter.shift, flip=True, rotate=jitter.rotate,
                                    scale=jitter.scale, fill=0.5))
    face_aug = Augment(AugmentConfig(crop_padding=jitter.face_shift, scale=jitter.face_scale, fill=0.5))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    faces, others = torch.nonzero(y == 1).flatten(), torch.nonzero(y == 0).flatten()
    target = torch.cat([torch.ones(32), torch.zeros(32)]).long()
    lo, hi = jitter.gain
    for _ in range(steps):
        pick = torch.cat([faces[torch.randint(len(faces), (32,), generator=generator)],
                          others[torch.randint(len(others), (32,), generator=generator)]])
        batch = x[pick].float() / 255.0
        if not face_aug.config.is_identity:  # the first 32 are the faces
            batch = torch.cat([face_aug(batch[:32], generator), batch[32:]])
        batch = augment(batch, generator)
        gain = lo + (hi - lo) * torch.rand(64, 1, 1, 1, generator=generator)
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


def _to_uint8(x: Tensor) -> Tensor:
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


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
    return _to_uint8(torch.cat(found))


def random_windows(photos: Sequence[Tensor], *, per_photo: int, scales: Sequence[float],
                   window: tuple[int, int] = (25, 25), generator: torch.Generator) -> Tensor:
    """``per_photo`` windows of each photo (float (1, H, W)) at random places of a random
    pyramid level among ``scales``: uint8 (M, 1, h, w). Easy negatives of every kind."""
    h, w = window
    out = []
    for photo in photos:
        levels = [img for img, _, _ in pyramid(photo, scales, min_size=window)]
        if not levels:
            continue
        pick = torch.randint(len(levels), (per_photo,), generator=generator).tolist()
        for k in pick:
            img = levels[k]
            i = int(torch.randint(img.shape[1] - h + 1, (1,), generator=generator))
            j = int(torch.randint(img.shape[2] - w + 1, (1,), generator=generator))
            out.append(img[:, i : i + h, j : j + w])
    if not out:
        return torch.zeros(0, 1, h, w, dtype=torch.uint8)
    return _to_uint8(torch.stack(out))


def negative_photos(names: Sequence[str] = NEGATIVE_PHOTOS, *, max_side: int = 400) -> list[Tensor]:
    """scikit-image's bundled photos without people, grey float (1, H, W), at most ``max_side``.
    A name in :data:`TEST_PHOTOS` is refused (those are where faces are searched)."""
    from skimage import data

    out = []
    for name in names:
        if name in TEST_PHOTOS:
            raise DataError(f"{name!r} is a face-finder test photo and must not be mined for negatives; "
                            f"pick photos without people, e.g. {', '.join(NEGATIVE_PHOTOS[:4])}")
        raw = getattr(data, name)()
        img = grey(raw[0] if isinstance(raw, tuple) else raw)
        side = max(img.shape[1:])
        if side > max_side:
            img = pyramid(img, [max_side / side])[0][0]
        out.append(img)
    return out


def clutter_photos(count: int = 12, *, size: int = 256, seed: int = 0) -> list[Tensor]:
    """``count`` made-up grey photos (1, size, size) in [0, 1] of man-made clutter: filled and
    outlined ellipses, rectangles, stars and other polygons, lines and letters of random grey
    levels and sizes on shaded, noisy backgrounds. Badges, emblems, print and hardware are the
    false faces real photos hold, and the bundled people-free photos have few of them."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default()
    out = []
    for _ in range(count):
        ramp = np.linspace(0, 1, size)[None, :] * rng.uniform(-0.4, 0.4) + np.linspace(0, 1, size)[:, None] * rng.uniform(-0.4, 0.4)
        back = np.clip(rng.uniform(0.2, 0.8) + ramp + rng.normal(0, rng.uniform(0, 0.05), (size, size)), 0, 1)
        img = Image.fromarray((back * 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(15, 40))):
            kind = rng.integers(5)
            cx, cy = rng.uniform(0, size, 2)
            r = rng.uniform(4, size / 4)
            fill = int(rng.integers(256)) if rng.random() < 0.7 else None
            line = int(rng.integers(256))
            width = int(rng.integers(1, 4))
            if kind == 0:
                box = [cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r * rng.uniform(0.5, 1.5)]
                box = [min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])]
                draw.ellipse(box, fill=fill, outline=line, width=width)
            elif kind == 1:
                draw.rectangle([cx - r, cy - r / 2, cx + r, cy + r / 2], fill=fill, outline=line, width=width)
            elif kind == 2:  # a star or other polygon
                n = int(rng.integers(3, 9))
                inner = rng.uniform(0.35, 1.0)
                a = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) + rng.uniform(0, np.pi)
                rad = np.where(np.arange(2 * n) % 2 == 0, r, r * inner)
                draw.polygon(list(zip(cx + rad * np.cos(a), cy + rad * np.sin(a))), fill=fill, outline=line)
            elif kind == 3:
                x2, y2 = rng.uniform(0, size, 2)
                draw.line([cx, cy, x2, y2], fill=line, width=int(rng.integers(1, 8)))
            else:
                text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(1, 8))))
                draw.text((cx, cy), text, fill=line, font=font.font_variant(size=int(rng.integers(8, 40))) if hasattr(font, "font_variant") else font)
        out.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None])
    return out


def train_face_finder(
    *, seed: int = 0, steps: int = 300, holdout: float = 0.2, mining_rounds: int = 2,
    negatives: Sequence[Tensor] | None = None, clutter: int = 0, random_per_photo: int = 0,
    per_photo: int = 150, scales: Sequence[float] = DEFAULT_SCALES, spec: str = FACE_SPEC,
    jitter: Jitter = Jitter(),
) -> FaceFinder:
    """Train ``spec`` (default :data:`FACE_SPEC`) on the LFW subset (``holdout`` of it kept
    aside, stratified). The negatives: LFW's 100 non-faces, ``random_per_photo`` random windows
    of each face-free photo (``negatives``, default :func:`negative_photos`, plus ``clutter``
    :func:`clutter_photos`), then ``mining_rounds`` times the false faces found in those photos
    (at most ``per_photo`` each), training again from the same start. Tens of seconds on a CPU.
    The same ``seed`` gives the same finder: the global RNG (dropout) is seeded and restored."""
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG: seed it, restore it after
        torch.manual_seed(seed)
        return _train(seed=seed, steps=steps, holdout=holdout, mining_rounds=mining_rounds, negatives=negatives,
                      clutter=clutter, random_per_photo=random_per_photo, per_photo=per_photo, scales=scales,
                      spec=spec, jitter=jitter)


def _train(
    *, seed: int, steps: int, holdout: float, mining_rounds: int, negatives: Sequence[Tensor] | None,
    clutter: int, random_per_photo: int, per_photo: int, scales: Sequence[float], spec: str, jitter: Jitter,
) -> FaceFinder:
    import cnnkit

    gen = torch.Generator().manual_seed(seed)
    images, labels = load_lfw_subset()
    train, test = _split(labels, holdout, gen)
    model = cnnkit.from_spec(spec)  # initial weights from the seeded global RNG
    start = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = images[train], labels[train]
    photos: list[Tensor] = []
    if mining_rounds or random_per_photo:
        photos = negative_photos() if negatives is None else list(negatives)
        photos += clutter_photos(clutter, seed=seed) if clutter else []
    if random_per_photo and photos:
        easy = random_windows(photos, per_photo=random_per_photo, scales=scales, generator=gen)
        x, y = torch.cat([x, easy]), torch.cat([y, torch.zeros(len(easy), dtype=torch.int64)])
    history, mined = [], 0
    for round_ in range(mining_rounds + 1):
        model.load_state_dict(start)
        _fit(model, x, y, steps=steps, generator=gen, jitter=jitter)
        acc = accuracy(model, images[test], labels[test])
        history.append(f"round {round_}: {len(x)} training crops ({mined} mined), held-out accuracy {acc:.3f}")
        if round_ == mining_rounds:
            break
        hard = mine_hard_negatives(to_fully_conv(model), photos, scales=scales, per_photo=per_photo)
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
