"""Saliency maps: which input pixels the score of one class depends on (via Captum).

:func:`saliency` takes one *stored* image (uint8 (C, H, W)) and returns an
:class:`Attribution` whose ``map`` is (H, W) float32 on the CPU, about the target class's
**logit** (the score before softmax, so a confident prediction still has gradients):

=======================  ========  ===================================================
method                   signed?   what ``map`` holds (defaults)
=======================  ========  ===================================================
gradient                 no        |d logit / d input|, max over channels
smoothgrad               no        the same, averaged over ``samples`` (32) noisy copies
                                   of the input, noise std = ``noise`` (0.15) x the
                                   input range (black to white); seeded
integrated-gradients     yes       gradient x (input - baseline) integrated along the
                                   straight path from a black image (``steps`` = 64),
                                   summed over channels: sum(map) ~= f(x) - f(black)
gradcam                  no        Grad-CAM at ``layer`` (default: the last convolution
                                   whose output is still a map, H, W > 1), ReLU'd and
                                   bilinearly upsampled to H x W
occlusion                yes       logit drop when a black square (``window``, default
                                   about 1/7 of the side, stride half of it) covers the
                                   pixel, averaged over the squares that cover it
=======================  ========  ===================================================

The figures live in :mod:`cnnkit.interpret.saliency_plot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.interpret.layers import capture
from cnnkit.interpret.subject import Subject, conv_layer_names

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


def saliency(
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
) -> Attribution:
    """One image's saliency map for class ``target`` (default: the predicted class).

    ``x_stored``: uint8 (C, H, W) or (1, C, H, W) of the subject's input shape.
    ``target``: a class index or name. ``layer``: Grad-CAM's layer (named as in
    ``cnnkit interpret layers``); only gradcam uses it. ``seed`` fixes SmoothGrad's noise
    without touching the global random state.
    """
    if method not in METHODS:
        from cnnkit.errors import did_you_mean

        raise CnnkitError(f"unknown saliency method {method!r}{did_you_mean(method, METHODS)}; "
                          f"choose one of: {', '.join(METHODS)}")
    stored = subject.check_stored(x_stored)
    if stored.shape[0] != 1:
        raise ShapeError(f"saliency takes one image at a time, got a batch of {stored.shape[0]}; loop over them")
    if layer is not None and method != "gradcam":
        layer = None  # only Grad-CAM looks at a layer; the others ignore --layer
    x = subject.to_input(stored)  # (1, C, H, W), normalized
    probs = subject.probabilities(x)[0].cpu()
    x.requires_grad_(True)  # the gradient methods differentiate with respect to it
    predicted = int(probs.argmax())
    index = predicted if target is None else subject.class_index(target)
    details: dict[str, Any] = {}

    if method == "gradient":
        from captum.attr import Saliency

        raw = Saliency(subject.model).attribute(x, target=index, abs=True)
        heat = raw.amax(1)[0]  # (H, W): the strongest channel, as in Simonyan et al.
    elif method == "smoothgrad":
        heat = _smoothgrad(subject, x, index, seed=seed, samples=samples, noise=noise)
        details = {"samples": samples, "noise": noise, "seed": seed}
    elif method == "integrated-gradients":
        heat, delta = _integrated_gradients(subject, x, index, steps=steps)
        details = {"steps": steps, "baseline": "black", "delta": delta}
    elif method == "gradcam":
        layer = layer or default_gradcam_layer(subject)
        heat = _gradcam(subject, x, index, layer)
    else:
        heat, window, stride = _occlusion(subject, x, index, window=window, stride=stride)
        details = {"window": window, "stride": stride, "baseline": "black"}
    return Attribution(heat.detach().float().cpu(), method, index, predicted, probs, layer, details)


def _smoothgrad(subject: Subject, x: Tensor, index: int, *, seed: int, samples: int, noise: float) -> Tensor:
    from captum.attr import NoiseTunnel, Saliency

    if samples < 1 or noise < 0:
        raise CnnkitError(f"SmoothGrad needs samples >= 1 and noise >= 0, got {samples} and {noise}")
    low, high = subject.input_bounds(device=x.device)
    stdev = noise * float((high - low).mean())  # the same share of black-to-white as in pixels
    tunnel = NoiseTunnel(Saliency(subject.model))
    # Captum draws the noise from the global RNG: fork it so a seed makes the map
    # reproducible without changing the caller's random state.
    devices = [] if x.device.type == "cpu" else [x.device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=x.device.type if devices else "cuda"):
        torch.manual_seed(seed)
        raw = tunnel.attribute(x, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=16,
                               stdevs=stdev, target=index, abs=True)
    return raw.amax(1)[0]


def _integrated_gradients(subject: Subject, x: Tensor, index: int, *, steps: int) -> tuple[Tensor, float]:
    from captum.attr import IntegratedGradients

    if steps < 2:
        raise CnnkitError(f"integrated gradients needs at least 2 steps, got {steps}")
    baseline = subject.pixels_to_input(torch.zeros_like(x))  # black, in input space
    attributions, delta = IntegratedGradients(subject.model).attribute(
        x, baselines=baseline, target=index, n_steps=steps, internal_batch_size=32, return_convergence_delta=True
    )
    return attributions.sum(1)[0], float(delta.abs().max())  # summing keeps completeness


def _gradcam(subject: Subject, x: Tensor, index: int, layer: str) -> Tensor:
    from captum.attr import LayerAttribution, LayerGradCam

    module = subject.layer(layer)
    with torch.no_grad():
        _, outputs = capture(subject.model, {layer: module}, x)
    shape = tuple(outputs[layer].shape) if layer in outputs else None
    if shape is None or len(shape) != 4 or min(shape[2:]) < 2:
        got = "no tensor output" if shape is None else "output " + "x".join(map(str, shape[1:]))
        raise CnnkitError(
            f"Grad-CAM needs a layer whose output is a CxHxW map larger than 1x1; {layer} has {got}; "
            f"choose a convolution such as {', '.join(conv_layer_names(subject.model)[-3:])}"
        )
    cam = LayerGradCam(subject.model, module).attribute(x, target=index, relu_attributions=True)  # (1, 1, h, w)
    upsampled = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")
    return upsampled[0, 0].clamp_min(0)  # bilinear keeps it >= 0 up to rounding


def default_gradcam_layer(subject: Subject) -> str:
    """The output of the convolutional trunk's last stage that is still a map (H, W > 1):
    the last such child of ``model.features`` (``features.stage3`` in quicknet,
    ``features.layer4`` in a ResNet), i.e. after its batch norm, activation and residual
    add. A raw convolution output is a poor default: BN's per-channel shift comes after
    it, and in a ResNet it misses the skip path. Models without ``features`` fall back to
    the last convolution with a spatial output."""
    modules = dict(subject.model.named_modules())
    trunk = getattr(subject.model, "features", None)
    names = [f"features.{n}" for n, _ in trunk.named_children()] if isinstance(trunk, torch.nn.Module) else []
    names = names or conv_layer_names(subject.model)
    if not names:
        raise CnnkitError(f"{subject.name} has no convolution layers; give Grad-CAM a layer with --layer")
    x = torch.zeros(1, *subject.input_shape, device=subject.device)
    with torch.no_grad():
        _, outputs = capture(subject.model, {n: modules[n] for n in names}, x)
    spatial = [n for n in names if n in outputs and outputs[n].dim() == 4 and min(outputs[n].shape[2:]) > 1]
    return (spatial or names)[-1]


def occlusion_window(height: int, width: int) -> tuple[int, int]:
    """Default (window, stride): a square about 1/7 of the shorter side (at least 3 pixels,
    so 4 for 28x28 and 32 for 224x224), moved by half of it."""
    window = max(3, round(min(height, width) / 7))
    return window, max(1, window // 2)


def _occlusion(subject: Subject, x: Tensor, index: int, *, window: int | None,
               stride: int | None) -> tuple[Tensor, int, int]:
    from captum.attr import Occlusion

    h, w = x.shape[2:]
    window = window or occlusion_window(h, w)[0]
    stride = stride or max(1, window // 2)
    if not (1 <= window <= min(h, w)) or stride < 1:
        raise CnnkitError(f"occlusion window must be 1..{min(h, w)} and stride >= 1, got {window} and {stride}")
    black = subject.pixels_to_input(torch.zeros_like(x))
    batch = max(1, min(64, 2**22 // x[0].numel()))  # occluded copies per forward pass
    raw = Occlusion(subject.model).attribute(
        x, sliding_window_shapes=(x.shape[1], window, window), strides=(x.shape[1], stride, stride),
        baselines=black, target=index, perturbations_per_eval=batch,
    )
    return raw.mean(1)[0], window, stride  # every channel got the same value: the logit drop
