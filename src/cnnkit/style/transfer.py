"""Neural style transfer: optimize an image G so that J(G) (see :mod:`.objective`) is small.

    result = cnnkit.style_transfer("photo.jpg", "painting.jpg", size=256, steps=200)
    result.save("out.png")

The optimized variable is G's pixels (1, C, H, W), started from the content image
(``init="content"``, the default: a recognisable picture from the first step) or from
seeded uniform noise (``init="noise"``, as in the lecture). After every step the pixels
are clamped to [0, 1], so every intermediate image is a real picture.

- ``optimizer="lbfgs"`` (the default, as Gatys et al.): one L-BFGS iteration per step and
  one forward/backward pass per iteration (no line search). The optimizer sees J divided
  by a fixed scale (alpha R_content + beta R_style) so that its tolerances do not depend on
  the size of the raw costs; the reported costs are the raw ones.
- ``optimizer="adam"``: Adam on the pixels with ``lr`` (default 0.02, i.e. about 5 grey
  levels per step).

Everything random (noise, a random-weights network) comes from ``seed``, so the same
call gives the same picture.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.errors import CnnkitError
from cnnkit.numbers import check_range
from cnnkit.style.extractor import FeatureExtractor
from cnnkit.style.objective import DEFAULT_BALANCE, StyleObjective

__all__ = [
    "ADAM_LR",
    "INITS",
    "OPTIMIZERS",
    "Progress",
    "StyleResult",
    "check_numbers",
    "default_lr",
    "initial_pixels",
    "optimize",
    "style_transfer",
]

Progress = Callable[[int, int, dict[str, float]], None]  # (step done, steps, loss parts)
INITS = ("content", "noise")
OPTIMIZERS = ("lbfgs", "adam")
ADAM_LR = 0.02


@dataclass
class StyleResult:
    """``pixels``: the generated image (1, C, H, W) in [0, 1] on the CPU; ``history``: the
    loss parts ({"content", "style", "tv", "total"}) at each step's starting image, then at
    the final image; ``final``: the parts of the final image; ``beta``: the beta used."""

    pixels: Tensor
    content: Tensor  # the resized content image (1, C, H, W), for side-by-side pictures
    style: Tensor  # the resized style image (1, C, H', W')
    history: list[dict[str, float]]
    alpha: float
    beta: float
    content_layer: str
    style_layers: dict[str, float]
    model: str
    pretrained: bool
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1]

    @property
    def start(self) -> dict[str, float]:
        return self.history[0]

    def save(self, path: str | Path) -> Path:
        """Write the generated image as PNG (atomically) and return its path."""
        from cnnkit.style.images import save_png

        return save_png(self.pixels, path)


def default_lr(optimizer: str) -> float:
    """The step size used when ``lr`` is None: 1 for L-BFGS, :data:`ADAM_LR` for Adam."""
    return 1.0 if optimizer == "lbfgs" else ADAM_LR


def check_numbers(*, size: int, steps: int, alpha: float, beta: float | None, balance: float, tv: float,
                  lr: float | None) -> None:
    """CnnkitError naming the option for a non-finite or out-of-range setting, before any
    image or network is read (``--alpha inf`` gave a black picture; an explicit ``--lr 0``
    is an error, None means the optimizer's default)."""
    check_range("--size", size, 1, integer=True)
    check_range("--steps", steps, 0, integer=True)
    for name, value in (("--alpha", alpha), ("--balance", balance), ("--tv", tv)):
        check_range(name, value, 0)
    if beta is not None:
        check_range("--beta", beta, 0)
    if lr is not None:
        check_range("--lr", lr, 0, strict=True)


def initial_pixels(content: Tensor, *, init: str, seed: int) -> Tensor:
    """The starting image: a copy of ``content`` or seeded uniform noise of its shape."""
    if init == "content":
        return content.detach().clone()
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    raise CnnkitError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")


def optimize(
    objective: StyleObjective,
    start: Tensor,
    *,
    steps: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    progress: Progress | None = None,
) -> tuple[Tensor, list[dict[str, float]]]:
    """Minimize ``objective`` from ``start`` (1, C, H, W) for ``steps`` steps ->
    (pixels in [0, 1], loss parts per step plus the final image's)."""
    check_range("--steps", steps, 0, integer=True)
    if optimizer not in OPTIMIZERS:
        raise CnnkitError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    step_size = default_lr(optimizer) if lr is None else lr
    check_range("--lr", step_size, 0, strict=True)
    x = start.detach().clone().requires_grad_(True)
    scale = objective.reference
    history: list[dict[str, float]] = []
    if optimizer == "lbfgs":
        # Tolerances 0: the step count alone decides when to stop, whatever the cost's size.
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=step_size, max_iter=1, tolerance_grad=0.0, tolerance_change=0.0, history_size=50
        )
    else:
        opt = torch.optim.Adam([x], lr=step_size)

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        total, parts = objective(x)
        history.append(parts)
        (total / scale).backward()
        return total / scale

    for step in range(steps):
        if optimizer == "lbfgs":
            opt.step(closure)  # type: ignore[arg-type]
        else:
            closure()
            opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        if progress is not None:
            progress(step + 1, steps, history[-1])
    with torch.no_grad():
        history.append(objective(x)[1])  # the final, clamped image's costs
    return x.detach(), history


def style_transfer(
    content: str | Path | Tensor,
    style: str | Path | Tensor,
    *,
    model: str = "vgg19",
    weights: str | None = None,
    allow_random_weights: bool = False,
    size: int = 512,
    steps: int = 300,
    alpha: float = 1.0,
    beta: float | None = None,
    balance: float = DEFAULT_BALANCE,
    content_layer: str | None = None,
    style_layers: str | Sequence[str] | Mapping[str, float] | None = None,
    tv: float = 0.0,
    init: str = "content",
    seed: int = 0,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    preserve_color: bool = False,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
    extractor: FeatureExtractor | None = None,
) -> StyleResult:
    """Paint ``content`` in the style of ``style``; returns a :class:`StyleResult`.

    ``content``, ``style``: image files of any format, size and mode, or tensors (C, H, W)
    (uint8, or float in [0, 1]); both are scaled so their longer side is ``size`` px.
    ``model``: a zoo name (VGG19 by default), spec or run directory that measures content
    and style; ``weights``: torchvision weights name or a file (see
    :func:`cnnkit.style.network.open_network`; ``allow_random_weights`` lets it run without
    any, with a warning through ``warn``). ``content_layer``/``style_layers``: lecture names
    (``conv4_2``) or module names; style layers may carry weights, 'conv1_1:2,conv2_1'.
    ``alpha``/``beta``: the weights of J; ``beta=None`` sets it from ``balance`` (see
    :mod:`cnnkit.style.objective`). ``tv``: weight of the total-variation cost.
    ``preserve_color``: keep the content image's colours. ``extractor``: reuse an opened
    network (``model``, ``weights``, ``allow_random_weights`` are then ignored).
    """
    from cnnkit.style.color import preserve_color as keep_colors
    from cnnkit.style.images import image_size, read_pixels
    from cnnkit.style.memory import check_fits
    from cnnkit.style.network import open_network

    began = time.perf_counter()
    check_numbers(size=size, steps=steps, alpha=alpha, beta=beta, balance=balance, tv=tv, lr=lr)
    from cnnkit.names import pick_choice

    init = pick_choice(init, INITS, what="init")  # any spelling: L-BFGS, lbfgs, Adam ...
    optimizer = pick_choice(optimizer, OPTIMIZERS, what="optimizer")
    for picture in (content, style):
        if not isinstance(picture, Tensor):
            image_size(picture)  # a missing or unreadable file fails now, before the network loads
    if extractor is None:
        subject, pretrained = open_network(model, weights=weights, allow_random_weights=allow_random_weights,
                                           seed=seed, device=device, warn=warn or (lambda _n: None))  # fmt: skip
        extractor = FeatureExtractor(subject, pretrained=pretrained)
    if preserve_color and extractor.channels != 3:
        raise CnnkitError(f"--preserve-color needs a colour model; {extractor.name} takes grey images")
    check_fits(extractor, size)  # past the memory the OS kills the process without a word
    c_pixels = read_pixels(content, size=size, channels=extractor.channels).to(extractor.device)
    s_pixels = read_pixels(style, size=size, channels=extractor.channels).to(extractor.device)
    objective = StyleObjective.create(
        extractor, c_pixels, s_pixels, content_layer=content_layer, style_layers=style_layers,
        alpha=alpha, beta=beta, balance=balance, tv=tv,
    )  # fmt: skip
    start = initial_pixels(c_pixels, init=init, seed=seed)
    pixels, history = optimize(objective, start, steps=steps, optimizer=optimizer, lr=lr, progress=progress)
    if preserve_color:
        pixels = keep_colors(pixels, c_pixels)
    settings = {"size": size, "steps": steps, "init": init, "seed": seed, "optimizer": optimizer,
                "lr": default_lr(optimizer) if lr is None else lr, "tv": tv, "balance": balance,
                "preserve_color": preserve_color, "device": str(extractor.device)}  # fmt: skip
    return StyleResult(
        pixels=pixels.cpu(), content=c_pixels.cpu(), style=s_pixels.cpu(), history=history,
        alpha=objective.alpha, beta=objective.beta, content_layer=objective.content_layer,
        style_layers=objective.style_weights, model=extractor.name, pretrained=extractor.pretrained,
        seconds=time.perf_counter() - began, settings=settings,
    )  # fmt: skip
