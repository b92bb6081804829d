"""Activation maximization: gradient ascent on an input image to excite a class or a channel.

The image is optimized in *pixel* space (float (N, C, H, W) in [0, 1], clamped after every
step) and fed to the model through ``subject.pixels_to_input``. Objectives:

- a class: that class's *logit* (not its softmax probability, which the optimizer could
  raise just by lowering the other classes);
- a channel of a layer: the channel's mean activation over all positions.

Unregularized ascent finds pixel noise that excites the unit and looks like nothing, so
the image is described by one of two *priors*, each with its regularizers:

``"data"`` (default for a run, which has a dataset): the image is the dataset's mean image
plus a combination of its top ``components`` principal components (a linear image model
fitted to up to 2,000 training images). Only data-like images can be made, so a Fashion-
MNIST trouser class comes out as a pair of trousers. Optimizing only 60 numbers per image
is also what keeps it smooth; jitter still applies.

``"pixels"`` (default for a zoo model, which has no dataset here; or ``prior="pixels"``):
a free image at ``resolution`` times the model's size (bilinear upsampling = a built-in
low-pass), with random jitter each step, a Gaussian blur every ``blur_every`` steps whose
sigma decays from ``blur_sigma[0]`` to ``blur_sigma[1]``, a total-variation penalty, an L2
pull towards the background value and a centre prior. It shows the features the network
keys on (edges, textures) more than whole objects.

Both start from a seeded random point (``torch.Generator``): same seed, same images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import CnnkitError
from cnnkit.interpret import regularize as R
from cnnkit.interpret.subject import Subject
from cnnkit.numbers import check_range

PRIORS = ("auto", "data", "pixels")


@dataclass(frozen=True)
class Settings:
    """How the ascent runs; every weight multiplies a per-image mean (size independent)."""

    steps: int = 200
    lr: float = 0.05  # Adam step, in pixel units for "pixels", in data std units for "data"
    prior: str = "auto"  # auto: "data" when the subject has a dataset, else "pixels"
    components: int = 60  # principal components of the data prior (more: sharper, less data-like)
    jitter: int = 2  # random shift of +-jitter pixels before every forward pass
    resolution: float = 0.5  # pixels prior: optimize at this fraction of the size, upsampled
    blur_every: int = 4  # pixels prior: blur the image every N steps (0: never)
    blur_sigma: tuple[float, float] = (1.0, 0.3)  # pixels prior: first and last sigma, geometric decay
    tv: float = 5.0  # total variation (pixels prior)
    l2: float = 0.5  # L2 towards `background` (pixels prior)
    centre: float = 2.0  # penalty on ink far from the centre (pixels prior)
    background: float = 0.0  # pixel value the L2 and centre terms pull towards
    start_noise: float = 0.1  # std of the random start (pixels: around 0.1 grey; data: coefficients)

    def checked(self) -> Settings:
        if self.prior not in PRIORS:
            raise CnnkitError(f"unknown prior {self.prior!r}; choose one of: {', '.join(PRIORS)}")
        check_range("steps", self.steps, 1, integer=True)
        check_range("resolution", self.resolution, 0, 1, strict=True)
        check_range("components", self.components, 1, integer=True)
        check_range("lr", self.lr, 0, strict=True)  # an ascent: inf or nan would make NaN images
        for name in ("tv", "l2", "centre", "start_noise"):
            check_range(name, getattr(self, name), 0)
        if len(self.blur_sigma) != 2 or not all(s > 0 for s in self.blur_sigma):
            raise CnnkitError(f"blur_sigma is (first, last), both positive, got {self.blur_sigma}")
        return self


def make_settings(**options: Any) -> Settings:
    """Settings with ``options`` changed; CnnkitError naming an unknown option."""
    names = {f.name for f in fields(Settings)}
    unknown = sorted(set(options) - names)
    if unknown:
        from cnnkit.errors import did_you_mean

        raise CnnkitError(
            f"unknown option {unknown[0]!r}{did_you_mean(unknown[0], sorted(names))}; options: {', '.join(sorted(names))}"
        )
    return replace(Settings(), **options).checked()


@dataclass
class Maximized:
    """Result of an ascent. ``pixels`` (N, C, H, W) in [0, 1]; ``history`` (steps, N): the
    objective at every step (on the jittered image); ``start``/``final`` (N,): the objective
    of the starting and the final image; ``logits``/``probabilities`` (N, classes) of the
    final images; ``targets`` the class or channel index of each image."""

    pixels: Tensor
    history: Tensor
    start: Tensor
    final: Tensor
    logits: Tensor
    probabilities: Tensor
    targets: list[int]
    kind: str  # "class" or "channel"
    layer: str | None
    prior: str
    settings: Settings = field(default_factory=Settings)


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted layer has run."""


def layer_output(model: nn.Module, module: nn.Module, x: Tensor) -> Tensor:
    """Run ``model(x)`` only as far as ``module`` and return its output (keeps the graph).

    Stopping there means later layers never run: a head that needs a fixed input size
    does not matter for a layer before it.
    """
    found: list[Tensor] = []

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        if isinstance(out, Tensor):
            found.append(out)
            raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not found:
        raise CnnkitError("the chosen layer did not produce a tensor in a forward pass; choose a convolution or activation layer")
    return found[0]


def layer_channels(subject: Subject, layer: str) -> int:
    """How many channels (dim 1 of the output) ``layer`` has, from one probe pass."""
    module = subject.layer(layer)
    with torch.no_grad():
        out = layer_output(subject.model, module, torch.zeros(1, *subject.input_shape, device=subject.device))
    if out.dim() < 2:
        raise CnnkitError(f"layer {layer!r} outputs shape {tuple(out.shape)}; choose a layer with channels")
    return int(out.shape[1])


# ---- the two objectives -------------------------------------------------------------
def class_score(subject: Subject, classes: Sequence[int]) -> Callable[[Tensor], Tensor]:
    """Normalized input (N, ...) -> (N,): image i's logit for ``classes[i]``."""
    index = torch.tensor(list(classes), device=subject.device)
    rows = torch.arange(len(index), device=subject.device)
    return lambda x: subject.model(x)[rows, index]


def channel_score(subject: Subject, layer: str, channels: Sequence[int]) -> Callable[[Tensor], Tensor]:
    """Normalized input (N, ...) -> (N,): image i's mean activation of ``channels[i]`` in ``layer``."""
    module = subject.layer(layer)
    index = torch.tensor(list(channels), device=subject.device)
    rows = torch.arange(len(index), device=subject.device)

    def score(x: Tensor) -> Tensor:
        out = layer_output(subject.model, module, x)
        return out[rows, index].flatten(1).mean(1) if out.dim() > 2 else out[rows, index]

    return score


# ---- the priors ---------------------------------------------------------------------
class _DataPrior:
    """Pixels = mean + coefficients @ components (each component scaled to one std)."""

    def __init__(self, subject: Subject, settings: Settings, data: Tensor | None) -> None:
        stored = data if data is not None else subject.dataset_split("train").x
        stored = subject.check_stored(stored)
        picker = torch.Generator().manual_seed(0)  # the prior is the same for every seed
        if len(stored) > 2000:
            stored = stored[torch.randperm(len(stored), generator=picker)[:2000]]
        flat = stored.float().flatten(1).to(subject.device) / 255.0
        self.mean = flat.mean(0)
        _, s, vh = torch.linalg.svd(flat - self.mean, full_matrices=False)
        k = min(settings.components, vh.shape[0])
        self.basis = vh[:k] * (s[:k, None] / math.sqrt(len(flat)))
        self.shape = subject.input_shape

    def start(self, n: int, noise: float, generator: torch.Generator, device: torch.device) -> Tensor:
        return (noise * torch.randn(n, self.basis.shape[0], generator=generator)).to(device)

    def pixels(self, z: Tensor) -> Tensor:
        return (self.mean + z @ self.basis).view(len(z), *self.shape).clamp(0, 1)


def _pixels_from(p: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(p.shape[2:]) == size:
        return p
    return F.interpolate(p, size=size, mode="bilinear", align_corners=False)


def _data_for(subject: Subject, settings: Settings, data: Tensor | None) -> _DataPrior | None:
    """The data prior, or None for the pixels prior (auto: data when there is a dataset)."""
    if settings.prior == "pixels":
        return None
    if data is None and subject.config is None:
        if settings.prior == "data":
            raise CnnkitError(f"{subject.name} has no dataset for the data prior; use prior 'pixels' (--prior pixels)")
        return None
    return _DataPrior(subject, settings, data)


def ascend(
    subject: Subject,
    score: Callable[[Tensor], Tensor],
    count: int,
    *,
    settings: Settings,
    seed: int = 0,
    data: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, str]:
    """Maximize ``score`` (normalized input (N, ...) -> (N,)) for ``count`` images at once.

    Returns (pixels (N, C, H, W) in [0, 1], history (steps, N), start (N,), prior used).
    ``data``: stored images (M, C, H, W) for the data prior instead of the run's train split.
    """
    settings = settings.checked()
    device = subject.device
    generator = torch.Generator().manual_seed(seed)
    c, h, w = subject.input_shape
    prior = _data_for(subject, settings, data)
    if prior is not None:
        param = prior.start(count, settings.start_noise, generator, device)
        to_pixels: Callable[[Tensor], Tensor] = prior.pixels
    else:
        ph, pw = max(1, round(h * settings.resolution)), max(1, round(w * settings.resolution))
        start = 0.1 + settings.start_noise * torch.randn(count, c, ph, pw, generator=generator)
        param = start.clamp(0, 1).to(device)
        to_pixels = lambda p: _pixels_from(p, (h, w))
    param.requires_grad_(True)
    with torch.no_grad():
        start_score = score(subject.pixels_to_input(to_pixels(param))).float().cpu()
    optimizer = torch.optim.Adam([param], lr=settings.lr)
    history = torch.empty(settings.steps, count)
    for step in range(settings.steps):
        pixels = to_pixels(param)
        dy, dx = R.random_shift(settings.jitter, generator=generator)
        value = score(subject.pixels_to_input(R.roll(pixels, dy, dx)))
        loss = -value.sum()
        if prior is None:
            penalty = (
                settings.tv * R.total_variation(pixels)
                + settings.l2 * R.l2_penalty(pixels, centre=settings.background)
                + settings.centre * R.centre_penalty(pixels, background=settings.background)
            )
            loss = loss + penalty.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history[step] = value.detach().float().cpu()
        if prior is None:
            with torch.no_grad():
                if settings.blur_every and step % settings.blur_every == 0 and step < settings.steps - 1:
                    first, last = settings.blur_sigma
                    sigma = first * (last / first) ** (step / max(1, settings.steps - 1))
                    param.copy_(R.gaussian_blur(param, sigma))
                param.clamp_(0, 1)
    with torch.no_grad():
        pixels = to_pixels(param).detach()
    return pixels, history, start_score, "data" if prior is not None else "pixels"


def _finish(subject: Subject, pixels: Tensor, score: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        x = subject.pixels_to_input(pixels)
        logits = subject.model(x).float()
        return score(x).float().cpu(), logits.cpu(), torch.softmax(logits, 1).cpu()


def maximize_classes(
    subject: Subject,
    classes: Sequence[int | str] | None = None,
    *,
    seed: int = 0,
    data: Tensor | None = None,
    **options: Any,
) -> Maximized:
    """One image per class (names or indices; None: every class) that maximizes its logit.

    ``options`` are :class:`Settings` fields (steps, lr, prior, jitter, tv, ...).
    """
    settings = make_settings(**options)
    targets = [subject.class_index(c) for c in classes] if classes is not None else list(range(subject.num_classes))
    if not targets:
        raise CnnkitError("no classes to maximize; give at least one class")
    score = class_score(subject, targets)
    pixels, history, start, prior = ascend(subject, score, len(targets), settings=settings, seed=seed, data=data)
    final, logits, probs = _finish(subject, pixels, score)
    return Maximized(pixels.cpu(), history, start, final, logits, probs, targets, "class", None, prior, settings)


def maximize_channels(
    subject: Subject,
    layer: str,
    channels: Sequence[int] | None = None,
    *,
    seed: int = 0,
    data: Tensor | None = None,
    **options: Any,
) -> Maximized:
    """One image per channel of ``layer`` (None: every channel) maximizing its mean activation."""
    settings = make_settings(**options)
    total = layer_channels(subject, layer)
    targets = list(channels) if channels is not None else list(range(total))
    for k in targets:
        if not 0 <= int(k) < total:
            raise CnnkitError(f"channel {k} is out of range: layer {layer!r} has channels 0..{total - 1}")
    if not targets:
        raise CnnkitError("no channels to maximize; give at least one channel")
    score = channel_score(subject, layer, targets)
    pixels, history, start, prior = ascend(subject, score, len(targets), settings=settings, seed=seed, data=data)
    final, logits, probs = _finish(subject, pixels, score)
    return Maximized(pixels.cpu(), history, start, final, logits, probs, [int(k) for k in targets], "channel", layer, prior, settings)


# ---- pictures -------------------------------------------------------------------------
def tile_titles(subject: Subject, result: Maximized) -> list[str]:
    """'Trouser\\n98.1% | logit 7.2' per class image; 'ch 5\\nmean 3.21' per channel image."""
    titles = []
    for i, target in enumerate(result.targets):
        if result.kind == "class":
            titles.append(f"{subject.classes[target]}\n{float(result.probabilities[i, target]):.1%} | logit {float(result.final[i]):.1f}")
        else:
            titles.append(f"ch {target}\nmean {float(result.final[i]):.2f}")
    return titles


def maximize_figure(subject: Subject, result: Maximized) -> Any:
    """A grid of the optimized images, each titled with its target and final score."""
    from cnnkit.interpret.plots import image_grid

    plural = "" if len(result.targets) == 1 else ("es" if result.kind == "class" else "s")
    what = f"class{plural}" if result.kind == "class" else f"channel{plural} of {result.layer}"
    suptitle = f"{subject.name}: images that maximize {what} ({result.prior} prior, {result.settings.steps} steps)"
    max_cols = 5 if len(result.targets) <= 10 else 12
    return image_grid(list(result.pixels), titles=tile_titles(subject, result), max_cols=max_cols,
                      cell=1.7 if len(result.targets) <= 10 else 1.3, suptitle=suptitle)
