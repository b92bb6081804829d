"""Training, evaluation and pictures for the localizer (:mod:`cnnkit.detect.localize`).

- :func:`augment`: mirror (landmarks mirrored *and re-ordered*, so "top_left" stays the
  top-left point) and shift (never pushing the object out of view);
- :func:`fit`: AdamW with a one-cycle schedule over uint8 scenes kept in memory;
- :func:`evaluate`: p_c accuracy, class accuracy and mean IoU on the images that hold an
  object, and the mean landmark error in pixels;
- :func:`draw_grid`: test scenes with predicted box, class and landmarks against the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.detect.localize import (
    LocalizeLossWeights,
    Localizer,
    encode_targets,
    localize_loss,
)
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.errors import DataError

__all__ = [
    "FORMAT",
    "METADATA_KEY",
    "OLD_METADATA_KEY",
    "LocalizeFitConfig",
    "augment",
    "draw_grid",
    "evaluate",
    "fit",
    "load_localizer",
    "mirror_order",
    "save_localizer",
]


@dataclass(frozen=True)
class LocalizeFitConfig:
    """Training settings (units in the comments)."""

    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 1e-4
    flip: bool = True  # mirror a random half of each batch
    shift: int = 4  # pixels: random translation per axis, limited so the object stays in view
    loss: LocalizeLossWeights = field(default_factory=LocalizeLossWeights)
    seed: int = 0
    grad_clip: float = 10.0


def mirror_order(names: Sequence[str]) -> list[int]:
    """The landmark permutation a horizontal flip needs: index k of the flipped image's list
    takes the mirrored point that was at ``order[k]`` ("left" and "right" swap names).

    E.g. (centre, top_left, top_right, bottom_right, bottom_left) -> [0, 2, 1, 4, 3].
    Points whose name has no left/right partner keep their place.
    """
    index = {name: k for k, name in enumerate(names)}

    def partner(name: str) -> str:
        return name.replace("left", "\0").replace("right", "left").replace("\0", "right")

    return [index.get(partner(name), k) for k, name in enumerate(names)]


def augment(images: Tensor, targets: list[Targets], *, flip: bool, shift: int, landmark_names: Sequence[str],
            generator: torch.Generator) -> tuple[Tensor, list[Targets]]:
    """Mirror and shift uint8 images (N, C, H, W) with their boxes and landmarks.

    A mirrored image's landmarks are re-ordered with :func:`mirror_order`. Shifts are drawn
    in [-shift, shift] per axis and then limited so the whole box stays inside the image;
    pixels shifted in repeat the border (no black edges that would give the shift away).
    """
    n, _, height, width = images.shape
    out, moved = images, list(targets)
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).tolist()
        if any(mirror):
            out = out.clone()
            order = mirror_order(landmark_names)
            for k in [i for i, m in enumerate(mirror) if m]:
                out[k] = out[k].flip(-1)
                t = moved[k]
                b = t.boxes
                boxes = torch.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], dim=1)
                marks = None
                if t.landmarks is not None:
                    marks = t.landmarks.clone()
                    marks[..., 0] = width - marks[..., 0]
                    marks = marks[:, order]
                moved[k] = Targets(boxes, t.labels, marks)
    if shift > 0:
        draws = torch.randint(-shift, shift + 1, (n, 2), generator=generator).tolist()
        padded = F.pad(out.float(), (shift, shift, shift, shift), mode="replicate")
        frames = []
        for k, (dx, dy) in enumerate(draws):
            t = moved[k]
            if len(t):
                x1, y1, x2, y2 = t.boxes.min(0).values[0], t.boxes.min(0).values[1], \
                    t.boxes.max(0).values[2], t.boxes.max(0).values[3]
                dx = int(max(min(dx, width - float(x2)), -float(x1)))
                dy = int(max(min(dy, height - float(y2)), -float(y1)))
                step = torch.tensor([dx, dy], dtype=t.boxes.dtype)
                marks = None if t.landmarks is None else t.landmarks + step
                moved[k] = Targets(t.boxes + step.repeat(2), t.labels, marks)
            frames.append(padded[k, :, shift - dy : shift - dy + height, shift - dx : shift - dx + width])
        out = torch.stack(frames).round().to(images.dtype)
    return out, moved


def fit(model: Localizer, data: DetectionSet, config: LocalizeFitConfig | None = None, *,
        device: torch.device | str = "cpu", log: Callable[[dict[str, float]], None] | None = None,
        ) -> list[dict[str, float]]:
    """Train ``model`` on one-object-or-none images in place; one record per epoch.

    Records hold the mean loss parts (``loss``, ``p_object``, ``box``, ``classes``,
    ``landmarks``), ``epoch`` and ``seconds``. The model's ``mean``/``std`` are set from the
    training images first.
    """
    cfg = config or LocalizeFitConfig()
    if len(data) == 0:
        raise DataError("the localization training set is empty; give it at least one scene")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise DataError(f"epochs and batch size must be at least 1, got {cfg.epochs} and {cfg.batch_size}")
    if data.images.shape[1] != model.mean.numel():
        raise DataError(f"the images have {data.images.shape[1]} channels but the model was built for "
                        f"{model.mean.numel()}")
    names = data.landmark_names
    device = torch.device(device)
    model.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        pixels = data.images.float().div(255).transpose(0, 1).reshape(data.images.shape[1], -1)
        model.mean.copy_(pixels.mean(dim=1))
        model.std.copy_(pixels.std(dim=1).clamp(min=1e-3))
    steps = -(-len(data) // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.2)
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        start = time.perf_counter()
        sums: dict[str, float] = {}
        order = torch.randperm(len(data), generator=gen)
        for step in range(steps):
            rows = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            images, targets = augment(data.images[rows], [data.targets[int(r)] for r in rows], flip=cfg.flip,
                                      shift=cfg.shift, landmark_names=names, generator=gen)
            y = encode_targets(targets, image_size=data.image_size, num_classes=model.num_classes,
                               num_landmarks=model.num_landmarks).to(device)
            parts = localize_loss(model(model.normalize(images.to(device))), y, num_classes=model.num_classes,
                                  num_landmarks=model.num_landmarks, weights=cfg.loss)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
        record = {"epoch": float(epoch), **{k: v / steps for k, v in sums.items()},
                  "seconds": time.perf_counter() - start}
        history.append(record)
        if log is not None:
            log(record)
    model.eval()
    return history


def evaluate(model: Localizer, data: DetectionSet) -> dict[str, float]:
    """Held-out figures: ``p_object_accuracy`` (p_c >= 0.5 vs object present, all images);
    on the images holding an object: ``class_accuracy``, ``mean_iou`` (predicted box vs true
    box, torchvision.ops.box_iou), ``iou_50`` (share with IoU >= 0.5) and
    ``landmark_error_px`` (mean Euclidean distance over every landmark); and the counts
    ``images`` and ``objects``."""
    from torchvision.ops import box_iou

    found = model.predict(data.images)
    present = torch.tensor([len(t) > 0 for t in data.targets])
    result = {"images": float(len(data)), "objects": float(present.sum())}
    result["p_object_accuracy"] = float(((found.p_object >= 0.5) == present).float().mean()) if len(data) else 0.0
    rows = present.nonzero().flatten().tolist()
    if not rows:
        return {**result, "class_accuracy": 0.0, "mean_iou": 0.0, "iou_50": 0.0, "landmark_error_px": 0.0}
    truth_boxes = torch.cat([data.targets[i].boxes for i in rows]).float()
    truth_labels = torch.cat([data.targets[i].labels for i in rows])
    ious = box_iou(found.boxes[rows], truth_boxes).diagonal()
    result["class_accuracy"] = float((found.labels[rows] == truth_labels).float().mean())
    result["mean_iou"] = float(ious.mean())
    result["iou_50"] = float((ious >= 0.5).float().mean())
    if model.num_landmarks:
        truth_marks = torch.cat([data.targets[i].landmarks for i in rows]).float()  # type: ignore[misc]
        result["landmark_error_px"] = float((found.landmarks[rows] - truth_marks).norm(dim=-1).mean())
    else:
        result["landmark_error_px"] = 0.0
    return result


def draw_grid(model: Localizer, data: DetectionSet, *, count: int = 16, columns: int = 4) -> object:
    """A matplotlib Figure: the first ``count`` scenes, truth dashed white (box + crosses for
    landmarks), prediction in its class colour with p_c (drawn only when p_c >= 0.5), and
    a title "truth -> predicted"."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from cnnkit.detect.draw import draw_on_axes

    count = min(count, len(data))
    rows = max(1, -(-count // columns))
    fig = Figure(figsize=(2.2 * columns, 2.4 * rows))
    found = model.predict(data.images[:count])
    for k in range(count):
        ax = fig.add_subplot(rows, columns, k + 1)
        keep = bool(found.p_object[k] >= 0.5)
        sel = slice(0, 1 if keep else 0)
        draw_on_axes(ax, data.images[k], found.boxes[k : k + 1][sel], found.labels[k : k + 1][sel],
                     classes=data.classes, scores=found.p_object[k : k + 1][sel],
                     landmarks=found.landmarks[k : k + 1][sel], font_size=5.5)
        t = data.targets[k]
        for box in t.boxes.tolist():
            x1, y1, x2, y2 = box
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="white",
                                   linestyle="--", linewidth=0.9))
        if t.landmarks is not None and len(t):
            pts = t.landmarks.reshape(-1, 2)
            ax.plot(pts[:, 0].tolist(), pts[:, 1].tolist(), "x", color="white", markersize=3, linestyle="none")
        truth = data.classes[int(t.labels[0])] if len(t) else "none"
        guess = data.classes[int(found.labels[k])] if keep else "none"
        ax.set_title(f"{truth} -> {guess}", fontsize=6.5, color="black" if truth == guess else "red")
    fig.suptitle("test scenes: truth dashed white (x = landmarks), prediction coloured with p_c", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- weights on disk
METADATA_KEY = "cnnkit_localize"  # the safetensors metadata entry (see cnnkit.train.run_header)
OLD_METADATA_KEY = "cnnkit"  # where localizers written before the key of their own kept it
FORMAT = "cnnkit-localizer/2"  # 2: the class logits come from their own pooled head


def save_localizer(model: Localizer, path: str, *, architecture: str, image_size: tuple[int, int],
                   classes: Sequence[str], landmark_names: Sequence[str]) -> None:
    """Write ``model``'s weights as safetensors with JSON metadata (the architecture text,
    head sizes, image size, classes, landmark names): enough for :func:`load_localizer`."""
    import json

    from cnnkit.atomic import save_tensors

    meta = {"format": FORMAT, "architecture": architecture, "num_classes": model.num_classes,
            "num_landmarks": model.num_landmarks, "in_channels": int(model.mean.numel()),
            "hidden": int(model.head.fc1.out_features), "image_size": list(image_size),
            "classes": list(classes), "landmark_names": list(landmark_names)}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_tensors(path, state, {METADATA_KEY: json.dumps(meta)})


def load_localizer(path: str) -> tuple[Localizer, dict[str, object]]:
    """(model in eval mode, metadata dict) from a file written by :func:`save_localizer`."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from cnnkit.detect.localize import build_localizer
    from cnnkit.errors import RunError

    try:
        with safe_open(path, framework="pt") as handle:
            header = handle.metadata() or {}
        if METADATA_KEY not in header and '"cnnkit-localizer/' in header.get(OLD_METADATA_KEY, ""):
            raise RunError(f"{path} is a localizer of an older cnnkit; train it again")
        meta = json.loads(header[METADATA_KEY])
        state = load_file(path)
    except (OSError, KeyError, ValueError) as err:
        raise RunError(f"cannot read localizer weights {path}: {err}; give a model.safetensors written by "
                       "`cnnkit detect localize --out`") from None
    if meta.get("format") != FORMAT:
        older = str(meta.get("format", "")).startswith("cnnkit-localizer/")
        raise RunError(f"{path} is a localizer of an older cnnkit ({meta.get('format')}); train it again"
                       if older else f"{path} is not a localizer ({meta.get('format')!r}); give one written by "
                       "`cnnkit detect localize --out`")
    model = build_localizer(str(meta["architecture"]), num_classes=int(meta["num_classes"]),
                            num_landmarks=int(meta["num_landmarks"]), image_size=tuple(meta["image_size"]),
                            in_channels=int(meta["in_channels"]), hidden=int(meta["hidden"]))
    model.load_state_dict(state)
    return model.eval(), meta
