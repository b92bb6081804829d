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
Every image has its own generator, seeded from (seed, its class or channel), for its start
and its jitter, so optimizing several targets in one batch (one forward pass per step for
all of them) gives each the image it gets alone.
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
from cnnkit.interpret.adam import Adam
from cnnkit.train.device import small_work_threads  # one thread for small work
from cnnkit.interpret.subject import Subject
from cnnkit.nn.capture import capture
from cnnkit.numbers import check_range

__all__ = [
    "DIM",
    "PRIORS",
    "Maximized",
    "Settings",
    "ascend",
    "channel_score",
    "class_score",
    "image_generators",
    "layer_channels",
    "layer_output",
    "make_settings",
    "maximize_channels",
    "maximize_classes",
    "maximize_figure",
    "shown_pixels",
    "tile_titles",
]

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


def layer_output(model: nn.Module, module: nn.Module, x: Tensor) -> Tensor:
    """Run ``model(x)`` only as far as ``module`` and return its output (keeps the graph).

    Stopping there means later layers never run: a head that needs a fixed input size
    does not matter for a layer before it.
    """
    _, found = capture(model, {"layer": module}, x, stop_early=True)
    if "layer" not in found:
        raise CnnkitError("the chosen layer did not produce a tensor in a forward pass; choose a convolution or activation layer")
    return found["layer"]


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

    def start(self, noise: float, generators: list[torch.Generator], device: torch.device) -> Tensor:
        """(N, components) random coefficients, image i's drawn from ``generators[i]``."""
        k = self.basis.shape[0]
        return torch.stack([noise * torch.randn(k, generator=g) for g in generators]).to(device)

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


def image_generators(seed: int, targets: Sequence[int]) -> list[torch.Generator]:
    """One generator per image, seeded from (seed, target): a target's randomness does not
    depend on which other targets share its batch."""
    return [torch.Generator().manual_seed(seed * 1_000_003 + int(t)) for t in targets]


def ascend(
    subject: Subject,
    score: Callable[[Tensor], Tensor],
    targets: Sequence[int],
    *,
    settings: Settings,
    seed: int = 0,
    data: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, str]:
    """Maximize ``score`` (normalized input (N, ...) -> (N,)) for N = len(``targets``)
    images at once; image i's start and jitter come from :func:`image_generators`.

    Returns (pixels (N, C, H, W) in [0, 1], history (steps, N), start (N,), prior used).
    ``data``: stored images (M, C, H, W) for the data prior instead of the run's train split.
    """
    settings = settings.checked()
    count = len(targets)
    with small_work_threads(count * math.prod(subject.input_shape)):
        return _ascend(subject, score, image_generators(seed, targets), settings, data)


def _ascend(subject: Subject, score: Callable[[Tensor], Tensor], generators: list[torch.Generator],
            settings: Settings, data: Tensor | None) -> tuple[Tensor, Tensor, Tensor, str]:
    device = subject.device
    count = len(generators)
    c, h, w = subject.input_shape
    prior = _data_for(subject, settings, data)
    if prior is not None:
        param = prior.start(settings.start_noise, generators, device)
        to_pixels: Callable[[Tensor], Tensor] = prior.pixels
    else:
        ph, pw = max(1, round(h * settings.resolution)), max(1, round(w * settings.resolution))
        start = 0.1 + settings.start_noise * torch.stack([torch.randn(c, ph, pw, generator=g) for g in generators])
        param = start.clamp(0, 1).to(device)
        to_pixels = lambda p: _pixels_from(p, (h, w))
    param.requires_grad_(True)
    with torch.no_grad():
        start_score = score(subject.pixels_to_input(to_pixels(param))).float().cpu()
    optimizer = Adam(param, lr=settings.lr)  # torch.optim would import torch._dynamo (seconds)
    history = torch.empty(settings.steps, count)
    for step in range(settings.steps):
        pixels = to_pixels(param)
        shifts = torch.tensor([R.random_shift(settings.jitter, generator=g) for g in generators])  # (N, 2)
        value = score(subject.pixels_to_input(R.roll_each(pixels, shifts)))
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
    with torch.no_grad(), small_work_threads(pixels.numel()):
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
    pixels, history, start, prior = ascend(subject, score, targets, settings=settings, seed=seed, data=data)
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
    layer = subject.layer_name(layer)  # "stage2.conv2" -> features.stage2.conv2, shown in titles
    total = layer_channels(subject, layer)
    targets = list(channels) if channels is not None else list(range(total))
    for k in targets:
        if not 0 <= int(k) < total:
            raise CnnkitError(f"channel {k} is out of range: layer {layer!r} has channels 0..{total - 1}")
    if not targets:
        raise CnnkitError("no channels to maximize; give at least one channel")
    score = channel_score(subject, layer, targets)
    pixels, history, start, prior = ascend(subject, score, targets, settings=settings, seed=seed, data=data)
    final, logits, probs = _finish(subject, pixels, score)
    return Maximized(pixels.cpu(), history, start, final, logits, probs, [int(k) for k in targets], "channel", layer, prior, settings)


# ---- pictures -------------------------------------------------------------------------
DIM = 0.6  # a channel image whose brightest pixel is under this is brightened to show


def shown_pixels(result: Maximized) -> tuple[Tensor, list[float]]:
    """What the grid draws, (N, C, H, W), and the brightness gain of each tile.

    Class images are drawn as they are. A channel image whose brightest pixel is under
    :data:`DIM` is scaled so that pixel is white: a channel that barely responds gets a
    dim image, drawn as it is it reads as a black square. The gain goes in its title.
    """
    if result.kind != "channel":
        return result.pixels, [1.0] * len(result.pixels)
    tops = result.pixels.flatten(1).amax(1)
    gains = [1.0 if float(t) >= DIM or float(t) <= 0 else 1.0 / float(t) for t in tops]
    scale = torch.tensor(gains, dtype=result.pixels.dtype).view(-1, 1, 1, 1)
    return (result.pixels * scale).clamp(0, 1), gains


def tile_titles(subject: Subject, result: Maximized, gains: Sequence[float] | None = None) -> list[str]:
    """'Trouser\n98.1% | logit 7.2' per class image; 'ch 5\nmean 3.21' per channel image,
    'ch 5 (x4.2)' when the tile was brightened by that factor (see :func:`shown_pixels`)."""
    titles = []
    for i, target in enumerate(result.targets):
        if result.kind == "class":
            titles.append(f"{subject.classes[target]}\n{float(result.probabilities[i, target]):.1%} | logit {float(result.final[i]):.1f}")
        else:
            gain = f" (x{gains[i]:.1f})" if gains is not None and gains[i] > 1.0 else ""
            titles.append(f"ch {target}{gain}\nmean {float(result.final[i]):.2f}")
    return titles


def maximize_figure(subject: Subject, result: Maximized) -> Any:
    """A grid of the optimized images, each titled with its target and final score; the
    title on two lines (what was maximized; how), so a narrow grid does not cut it."""
    from cnnkit.interpret.plots import image_grid

    plural = "" if len(result.targets) == 1 else ("es" if result.kind == "class" else "s")
    what = f"class{plural}" if result.kind == "class" else f"channel{plural} of {result.layer}"
    pixels, gains = shown_pixels(result)
    how = f"{result.prior} prior, {result.settings.steps} steps"
    if any(g > 1.0 for g in gains):
        how += "; (xN): a dim image brightened N times"
    lead = f"{subject.name}: images that maximize"
    # a long layer name gets its own line, so a grid of one or two tiles does not cut it
    suptitle = f"{lead} {what}\n({how})" if len(lead) + len(what) < 48 else f"{lead}\n{what}\n({how})"
    max_cols = 5 if len(result.targets) <= 10 else 12
    return image_grid(list(pixels), titles=tile_titles(subject, result, gains), max_cols=max_cols,
                      cell=1.7 if len(result.targets) <= 10 else 1.3, suptitle=suptitle)
