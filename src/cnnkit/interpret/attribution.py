"""Saliency maps: which input pixels the score of one class depends on.

:func:`saliency_maps` takes a batch of *stored* images (uint8 (N, C, H, W)) and returns one
:class:`Attribution` per image, whose ``map`` is (H, W) float32 on the CPU, about the
target class's **logit** (the score before softmax, so a confident prediction still has
gradients); :func:`saliency` does one image. A batch gives each image the map it gets
alone (the model is in eval mode, so images do not interact), in fewer forward passes:

=======================  ========  ===================================================
method                   signed?   what ``map`` holds (defaults)
=======================  ========  ===================================================
gradient                 no        |d logit / d input|, max over channels
smoothgrad               no        the same, averaged over ``samples`` (32) noisy copies
                                   of the input, noise std = ``noise`` (0.15) x the
                                   input range (black to white); seeded
integrated-gradients     yes       gradient x (input - baseline) integrated along the
                                   straight path from the baseline (``steps`` = 64,
                                   Captum), summed over channels:
                                   sum(map) ~= f(x) - f(baseline)
gradcam                  no        Grad-CAM at ``layer`` (default: the last stage of the
                                   trunk whose output is still a map, H, W > 1), ReLU'd
                                   and bilinearly upsampled to H x W; one forward pass
occlusion                yes       logit drop when the baseline's square (``window``,
                                   default about 1/7 of the side, stride half of it)
                                   covers the pixel, averaged over the squares that
                                   cover it (Captum)
=======================  ========  ===================================================

The baseline (``baseline``: auto, black, mean, blur) is described in
:mod:`cnnkit.interpret.baselines`; ``details["baseline"]`` says which one each image got.
The figures live in :mod:`cnnkit.interpret.saliency_plot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.train.device import small_work_threads  # one thread for small work
from cnnkit.interpret.baselines import baseline_pixels, check_baseline, describe_baseline, resolve_baseline
from cnnkit.interpret.subject import Subject, conv_layer_names
from cnnkit.nn.capture import capture

__all__ = [
    "IG_STEPS",
    "METHODS",
    "SIGNED",
    "SMOOTHGRAD_NOISE",
    "SMOOTHGRAD_SAMPLES",
    "Attribution",
    "default_gradcam_layer",
    "noise_draws",
    "occlusion_window",
    "saliency",
    "saliency_maps",
]

METHODS = ("gradient", "smoothgrad", "integrated-gradients", "gradcam", "occlusion")
SIGNED = {"integrated-gradients", "occlusion"}  # maps with both signs (others are >= 0)

SMOOTHGRAD_SAMPLES = 32
SMOOTHGRAD_NOISE = 0.15  # fraction of the input range (pixel 0 to pixel 1, normalized)
IG_STEPS = 64


@dataclass
class Attribution:
    """One saliency map for one image.

    ``map``: (H, W) float32 on the CPU (see the module docstring for its units).
    ``probabilities``: (classes,) softmax of the model's output for the image.
    ``details``: the settings used (samples, noise, steps, window, stride) and, for
    integrated gradients, ``delta`` = sum(map) - (f(x) - f(baseline)) (small is good).
    """

    map: Tensor
    method: str
    target: int
    predicted: int
    probabilities: Tensor
    layer: str | None = None  # Grad-CAM's layer
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def signed(self) -> bool:
        return self.method in SIGNED

    def summary(self, classes: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """JSON-able numbers: classes, probabilities, where the map peaks."""
        flat = self.map.abs() if self.signed else self.map
        row, col = divmod(int(flat.argmax()), self.map.shape[1])
        return {
            "method": self.method,
            "target": self.target,
            "target_class": classes[self.target],
            "target_probability": float(self.probabilities[self.target]),
            "predicted": self.predicted,
            "predicted_class": classes[self.predicted],
            "probability": float(self.probabilities[self.predicted]),
            "layer": self.layer,
            "peak": [row, col],
            "map_min": float(self.map.min()),
            "map_max": float(self.map.max()),
            "map_sum": float(self.map.sum()),
            **self.details,
        }


def saliency(subject: Subject, x_stored: Tensor, **options: Any) -> Attribution:
    """One image's saliency map: :func:`saliency_maps` for a batch of one.

    ``x_stored``: uint8 (C, H, W) or (1, C, H, W) of the subject's input shape; ``options``
    as for :func:`saliency_maps`.
    """
    stored = subject.check_stored(x_stored)
    if stored.shape[0] != 1:
        raise ShapeError(f"saliency takes one image at a time, got a batch of {stored.shape[0]}; "
                         "use saliency_maps for a batch")
    return saliency_maps(subject, stored, **options)[0]


def saliency_maps(
    subject: Subject,
    x_stored: Tensor,
    *,
    method: str = "gradient",
    target: int | str | None = None,
    layer: str | None = None,
    seed: int = 0,
    samples: int = SMOOTHGRAD_SAMPLES,
    noise: float = SMOOTHGRAD_NOISE,
    steps: int = IG_STEPS,
    window: int | None = None,
    stride: int | None = None,
    baseline: str = "auto",
    ig_samples: int = 1,
) -> list[Attribution]:
    """Saliency maps of a batch, one :class:`Attribution` per image, for class ``target``
    (default: each image's predicted class). Each image's map is the one it gets alone.

    ``x_stored``: uint8 (N, C, H, W) or (C, H, W) of the subject's input shape.
    ``target``: a class index or name. ``layer``: Grad-CAM's layer (named as in
    ``cnnkit interpret layers``); only gradcam uses it. ``seed`` fixes SmoothGrad's noise
    (the same noise for every image) without touching the global random state.
    ``baseline``: what integrated gradients and occlusion compare with (see
    :mod:`cnnkit.interpret.baselines`). ``ig_samples`` > 1: SmoothGrad-IG, integrated
    gradients averaged over that many noisy copies of each image (SmoothGrad's ``noise``
    and ``seed``), all from the clean image's baseline: smoother at 64x64 and beyond.
    """
    from cnnkit.names import pick_choice

    method = pick_choice(method, METHODS, what="saliency method")  # grad-cam, GradCAM ... are gradcam
    check_baseline(baseline)
    stored = subject.check_stored(x_stored)
    if layer is not None and method != "gradcam":
        layer = None  # only Grad-CAM looks at a layer; the others ignore --layer
    wanted = None if target is None else subject.class_index(target)
    x = subject.to_input(stored)  # (N, C, H, W), normalized
    copies = {"smoothgrad": samples, "integrated-gradients": steps * ig_samples, "occlusion": 64}.get(method, 1)
    with small_work_threads(x.numel() * copies):  # roughly the values one map runs through the model
        if method == "gradcam":
            heat, logits, layer = _gradcam(subject, x, wanted, layer)
            details: list[dict[str, Any]] = [{} for _ in range(len(x))]
        elif method == "gradient":
            heat, logits = _gradient(subject, x, wanted)
            details = [{} for _ in range(len(x))]
        else:
            with torch.no_grad():
                logits = subject.model(x).float()
            index = _targets(logits, wanted)
            if method == "smoothgrad":
                heat = _smoothgrad(subject, x, index, seed=seed, samples=samples, noise=noise)
                details = [{"samples": samples, "noise": noise, "seed": seed} for _ in range(len(x))]
            elif method == "integrated-gradients":
                heat, details = _integrated_gradients(subject, x, index, steps=steps, baseline=baseline,
                                                      samples=ig_samples, noise=noise, seed=seed)
            else:
                heat, details = _occlusion(subject, x, index, window=window, stride=stride, baseline=baseline)
    probs = torch.softmax(logits.detach().float(), 1).cpu()
    index = _targets(logits, wanted)
    return [
        Attribution(heat[i].detach().float().cpu(), method, int(index[i]), int(probs[i].argmax()), probs[i],
                    layer, details[i])
        for i in range(len(x))
    ]


def _targets(logits: Tensor, wanted: int | None) -> Tensor:
    """(N,) class index per image: ``wanted`` for all, or each image's predicted class."""
    if wanted is None:
        return logits.detach().argmax(1)
    return torch.full((len(logits),), wanted, dtype=torch.long, device=logits.device)


def _chunk(x: Tensor) -> int:
    """Images per forward pass for the methods that run many copies (about 4M values)."""
    return max(1, min(256, 2**22 // x[0].numel()))


def _gradient(subject: Subject, x: Tensor, wanted: int | None) -> tuple[Tensor, Tensor]:
    """|d logit / d input|, max over channels (N, H, W), and the logits, from one pass."""
    x = x.detach().requires_grad_(True)
    logits = subject.model(x)
    index = _targets(logits, wanted)
    # the images are independent (eval mode), so the sum's gradient is each image's own
    (grad,) = torch.autograd.grad(logits.gather(1, index[:, None]).sum(), x)
    return grad.abs().amax(1), logits  # the strongest channel, as in Simonyan et al.


def noise_draws(subject: Subject, x: Tensor, *, samples: int, noise: float, seed: int) -> Tensor:
    """SmoothGrad's noise, (samples, C, H, W) in input units: ``noise`` x the black-to-white
    range x a standard normal from a torch.Generator seeded with ``seed`` (the same draw
    for every image of a batch)."""
    if samples < 1 or noise < 0:
        raise CnnkitError(f"SmoothGrad needs samples >= 1 and noise >= 0, got {samples} and {noise}")
    low, high = subject.input_bounds(device=x.device)
    stdev = noise * float((high - low).mean())  # the same share of black-to-white as in pixels
    return stdev * torch.randn(samples, *x.shape[1:], generator=torch.Generator().manual_seed(seed)).to(x.device)


def _smoothgrad(subject: Subject, x: Tensor, index: Tensor, *, seed: int, samples: int, noise: float) -> Tensor:
    """Mean over ``samples`` noisy copies (:func:`noise_draws`) of |d logit / d input|,
    max over channels (N, H, W)."""
    draws = noise_draws(subject, x, samples=samples, noise=noise, seed=seed)
    noisy = (x[:, None] + draws[None]).flatten(0, 1)  # (N * samples, C, H, W), image-major
    targets = index.repeat_interleave(samples)
    total = torch.zeros_like(noisy)
    step = _chunk(x)
    for start in range(0, len(noisy), step):
        part = noisy[start : start + step].detach().requires_grad_(True)
        logits = subject.model(part)
        (grad,) = torch.autograd.grad(logits.gather(1, targets[start : start + step, None]).sum(), part)
        total[start : start + step] = grad.abs()
    return total.view(len(x), samples, *x.shape[1:]).mean(1).amax(1)


def _baselines(subject: Subject, x: Tensor, baseline: str) -> tuple[Tensor, list[dict[str, Any]]]:
    """Baseline inputs (N, C, H, W), normalized, and each image's ``{"baseline": ...}``."""
    pixels = subject.input_to_pixels(x)
    kinds = resolve_baseline(baseline, pixels)
    h, w = x.shape[2:]
    base = subject.pixels_to_input(baseline_pixels(kinds, pixels))
    return base, [{"baseline": describe_baseline(k, h, w)} for k in kinds]


def _integrated_gradients(subject: Subject, x: Tensor, index: Tensor, *, steps: int, baseline: str,
                          samples: int = 1, noise: float = SMOOTHGRAD_NOISE,
                          seed: int = 0) -> tuple[Tensor, list[dict[str, Any]]]:
    from captum.attr import IntegratedGradients

    if steps < 2 or samples < 1:
        raise CnnkitError(f"integrated gradients needs at least 2 steps and 1 sample, got {steps} and {samples}")
    base, details = _baselines(subject, x, baseline)
    draws = noise_draws(subject, x, samples=samples, noise=noise if samples > 1 else 0.0, seed=seed)
    total, gaps = torch.zeros_like(x), torch.zeros(len(x))
    ig = IntegratedGradients(subject.model)
    for draw in draws:  # SmoothGrad-IG: one pass of IG per noisy copy (a single clean one by default)
        attributions, delta = ig.attribute(
            x + draw, baselines=base, target=index.tolist(), n_steps=steps,
            internal_batch_size=max(len(x), _chunk(x)), return_convergence_delta=True,
        )
        total += attributions / samples
        gaps = torch.maximum(gaps, delta.detach().abs().float().cpu())
    for d, gap in zip(details, gaps.tolist()):
        d.update(steps=steps, delta=float(gap))
        if samples > 1:
            d.update(samples=samples, noise=noise, seed=seed)
    return total.sum(1), details  # summing keeps completeness


def _gradcam(subject: Subject, x: Tensor, wanted: int | None, layer: str | None) -> tuple[Tensor, Tensor, str]:
    """Grad-CAM (N, H, W), the logits and the layer used, from one forward pass.

    Without ``layer`` the candidates for the default (see :func:`default_gradcam_layer`)
    are all recorded in the same pass and the last one that is still a map is used.
    """
    modules = dict(subject.model.named_modules())
    if layer is not None:
        layer = subject.layer_name(layer)  # a unique suffix names it; a bad name: CnnkitError with suggestions
    names = [layer] if layer is not None else _gradcam_candidates(subject)
    x = x.detach().requires_grad_(True)  # the weights are frozen: this puts the layer in the graph
    # a module run twice (a shared ReLU) is read at its last call
    logits, outputs = capture(subject.model, {n: modules[n] for n in names}, x, call="last")
    if layer is None:
        spatial = [n for n in names if n in outputs and outputs[n].dim() == 4 and min(outputs[n].shape[2:]) > 1]
        layer = (spatial or names)[-1]
    shape = tuple(outputs[layer].shape) if layer in outputs else None
    if shape is None or len(shape) != 4 or min(shape[2:]) < 2:
        got = "no tensor output" if shape is None else "output " + "x".join(map(str, shape[1:]))
        raise CnnkitError(
            f"Grad-CAM needs a layer whose output is a CxHxW map larger than 1x1; {layer} has {got}; "
            f"choose a convolution such as {', '.join(conv_layer_names(subject.model)[-3:])}"
        )
    activation = outputs[layer]
    index = _targets(logits, wanted)
    (grad,) = torch.autograd.grad(logits.gather(1, index[:, None]).sum(), activation)
    weights = grad.mean(dim=(2, 3), keepdim=True)  # alpha_k: the gradient averaged over the map
    cam = torch.relu((weights * activation).sum(1, keepdim=True))  # (N, 1, h, w)
    upsampled = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear")
    return upsampled[:, 0].clamp_min(0), logits, layer  # bilinear keeps it >= 0 up to rounding


def _gradcam_candidates(subject: Subject) -> list[str]:
    """The children of ``model.features`` (else every convolution), input to output."""
    trunk = getattr(subject.model, "features", None)
    names = [f"features.{n}" for n, _ in trunk.named_children()] if isinstance(trunk, torch.nn.Module) else []
    names = names or conv_layer_names(subject.model)
    if not names:
        raise CnnkitError(f"{subject.name} has no convolution layers; give Grad-CAM a layer with --layer")
    return names


def default_gradcam_layer(subject: Subject) -> str:
    """The output of the convolutional trunk's last stage that is still a map (H, W > 1):
    the last such child of ``model.features`` (``features.stage3`` in quicknet,
    ``features.layer4`` in a ResNet), i.e. after its batch norm, activation and residual
    add. A raw convolution output is a poor default: BN's per-channel shift comes after
    it, and in a ResNet it misses the skip path. Models without ``features`` fall back to
    the last convolution with a spatial output."""
    modules = dict(subject.model.named_modules())
    names = _gradcam_candidates(subject)
    x = torch.zeros(1, *subject.input_shape, device=subject.device)
    with torch.no_grad():
        _, outputs = capture(subject.model, {n: modules[n] for n in names}, x, call="last")
    spatial = [n for n in names if n in outputs and outputs[n].dim() == 4 and min(outputs[n].shape[2:]) > 1]
    return (spatial or names)[-1]


def occlusion_window(height: int, width: int) -> tuple[int, int]:
    """Default (window, stride): a square about 1/7 of the shorter side (at least 3 pixels,
    so 4 for 28x28 and 32 for 224x224), moved by half of it."""
    window = max(3, round(min(height, width) / 7))
    return window, max(1, window // 2)


def _occlusion(subject: Subject, x: Tensor, index: Tensor, *, window: int | None, stride: int | None,
               baseline: str) -> tuple[Tensor, list[dict[str, Any]]]:
    from captum.attr import Occlusion

    h, w = x.shape[2:]
    window = window or occlusion_window(h, w)[0]
    stride = stride or max(1, window // 2)
    if not (1 <= window <= min(h, w)) or stride < 1:
        raise CnnkitError(f"occlusion window must be 1..{min(h, w)} and stride >= 1, got {window} and {stride}")
    base, details = _baselines(subject, x, baseline)
    raw = Occlusion(subject.model).attribute(
        x, sliding_window_shapes=(x.shape[1], window, window), strides=(x.shape[1], stride, stride),
        baselines=base, target=index.tolist(), perturbations_per_eval=max(1, _chunk(x) // len(x)),
    )
    for d in details:
        d.update(window=window, stride=stride)
    return raw.mean(1), details  # every channel got the same value: the logit drop
