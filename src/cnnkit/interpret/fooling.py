"""Fooling images: noise that the model assigns to a chosen class with high confidence.

Starting from seeded random noise, the pixels take small signed gradient steps that lower
the cross-entropy of the wanted class, each pixel staying within ``bound`` intensity levels
of its starting noise, and an image stops as soon as its confidence reaches the goal. The
result still looks like noise to a person while the model is (say) 99% sure it is a sneaker.

Choices that keep it both noise-like and quick:

- The start noise is uniform with the dataset's mean brightness (on Fashion-MNIST, dark
  noise in 0..146 of 255): full-range noise is far from anything the model has seen and
  needs much larger changes.
- Noise, steps and bound are whole pixel levels, so every image is exactly a uint8 picture:
  the confidence reported is the one the saved image gets.
- Several candidates per class (``tries``) run side by side; per class the first to reach
  the goal (else the most confident) is kept. Some classes are harder from some starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cnnkit.errors import CnnkitError
from cnnkit.interpret.adversarial import attack_loss, eps_fraction, pixel_logits
from cnnkit.train.device import small_work_threads
from cnnkit.interpret.subject import Subject

__all__ = ["FoolResult", "fool", "fooling_figure", "start_noise"]


@dataclass
class FoolResult:
    """One fooling image per class asked for, K = len(classes).

    ``pixels`` and ``start`` are (K, C, H, W) in [0, 1] (multiples of 1/255);
    ``confidence`` (K,) the probability of the class; ``probabilities`` (K, classes);
    ``steps`` (K,) gradient steps taken by the kept candidate; ``reached`` (K,) bool.
    """

    classes: list[int]
    pixels: Tensor
    start: Tensor
    confidence: Tensor
    probabilities: Tensor
    steps: Tensor
    reached: Tensor
    goal: float
    bound: float  # pixel levels

    @property
    def distance(self) -> Tensor:
        """(K,) the largest change of any pixel from its start noise, in pixel levels."""
        return ((self.pixels - self.start).abs().flatten(1).amax(1) * 255).round()


def start_noise(subject: Subject, count: int, *, generator: torch.Generator) -> Tensor:
    """(count, C, H, W) uniform noise on whole pixel levels with the dataset's mean brightness
    per channel: uniform on [0, 2 * mean] (or [2 * mean - 1, 1] for a mean above one half)."""
    c, h, w = subject.input_shape
    mean = torch.tensor(subject.info.mean, dtype=torch.float32).view(1, -1, 1, 1).clamp(0, 1)
    half_width = torch.minimum(mean, 1 - mean)
    uniform = torch.rand((count, c, h, w), generator=generator)
    noise = mean - half_width + 2 * half_width * uniform
    return (noise * 255).round().div(255).to(subject.device)


def fool(
    subject: Subject,
    classes: Sequence[int | str],
    *,
    confidence: float = 0.99,
    steps: int = 500,
    step_size: float = 2,
    bound: float = 64,
    tries: int = 4,
    seed: int = 0,
) -> FoolResult:
    """Find, for each class, noise the model calls that class with probability >= ``confidence``.

    ``step_size`` and ``bound`` are whole pixel levels (0-255 units): the size of each signed
    step and how far any pixel may drift from its start noise. At most ``steps`` steps;
    ``tries`` candidates per class from different noise (seeded by ``seed``).
    """
    if not 0 < confidence < 1:
        raise CnnkitError(f"--confidence must be between 0 and 1 (e.g. 0.99), got {confidence}")
    if steps < 1 or tries < 1:
        raise CnnkitError(f"--steps and tries must be at least 1, got {steps} and {tries}")
    for value, what in ((step_size, "--step-size"), (bound, "--bound")):
        if not math.isfinite(value) or value != int(value) or value < 1:
            raise CnnkitError(f"{what} is a whole number of pixel levels 1..255, got {value}")
        eps_fraction(value, what=what)
    wanted = [subject.class_index(c) for c in classes]
    if not wanted:
        raise CnnkitError("give at least one class to fool the model with")
    forward = pixel_logits(subject)
    k = len(wanted)
    labels = torch.tensor(wanted, device=subject.device).repeat_interleave(tries)
    start = start_noise(subject, k * tries, generator=torch.Generator().manual_seed(seed))
    low, high = (start - bound / 255).clamp(min=0), (start + bound / 255).clamp(max=1)
    current = start.clone()
    taken = torch.zeros(k * tries, dtype=torch.long, device=subject.device)
    rows = torch.arange(k * tries, device=subject.device)
    with small_work_threads(current.numel()):
        for _ in range(steps + 1):
            with torch.enable_grad():
                x = current.detach().requires_grad_(True)
                logits = forward(x)
                loss = attack_loss(logits, labels)
                (grad,) = torch.autograd.grad(loss.sum(), x)
            prob = torch.softmax(logits.detach(), 1)[rows, labels]
            done = (prob >= confidence).view(k, tries).any(1)  # a class stops once one try got there
            moving = ~done.repeat_interleave(tries) & (prob < confidence)
            if not moving.any() or int(taken.max()) >= steps:
                break
            step = (-(step_size / 255) * grad.sign()) * moving.view(-1, 1, 1, 1)
            current = torch.max(torch.min(current + step, high), low)
            current = (current * 255).round() / 255  # stay on whole levels despite float drift
            taken += moving.long()

    with torch.no_grad():
        probabilities = torch.softmax(forward(current), 1)
    prob = probabilities[rows, labels].view(k, tries)
    reached_any = prob >= confidence
    # per class: the reaching try with the fewest steps, else the most confident one
    rank = torch.where(reached_any, 2.0 - taken.view(k, tries).float() / (steps + 1), prob)
    pick = rank.argmax(1) + torch.arange(k, device=subject.device) * tries
    return FoolResult(
        classes=wanted,
        pixels=current[pick],
        start=start[pick],
        confidence=probabilities[pick, labels[pick]],
        probabilities=probabilities[pick],
        steps=taken[pick],
        reached=reached_any.any(1),
        goal=confidence,
        bound=float(bound),
    )


def fooling_figure(subject: Subject, result: FoolResult) -> object:
    """A grid of the fooling images, one tile per class titled 'class  confidence'."""
    import math

    from cnnkit.interpret.plots import figure, show_image

    count = len(result.classes)
    cols = min(count, 5)  # ten classes read best as two rows of five
    fig, axes = figure(math.ceil(count / cols), cols, cell=1.9, title_space=0.8)
    for index, ax in enumerate(axes.flat):
        if index >= count:
            ax.set_axis_off()
            continue
        c, p, ok = result.classes[index], float(result.confidence[index]), bool(result.reached[index])
        title = f"{subject.classes[c]}\n{p:.2%}" + ("" if ok else " (short of goal)")
        show_image(ax, result.pixels[index], title=title)
    fig.suptitle(
        f"{subject.name}: noise the model calls each class\n(goal {result.goal:.0%}; every pixel "
        f"within {result.bound:g}/255 of its start noise)",
        fontsize=10,
    )
    return fig
