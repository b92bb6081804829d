"""Adversarial examples: small L-infinity perturbations that change a model's prediction.

The attacks work in *pixel* space, float (N, C, H, W) in [0, 1]: the model is wrapped as
pixels -> :meth:`Subject.pixels_to_input` -> logits, so the bound ``eps`` means what a person
expects (``eps=8`` lets every pixel move by at most 8 of 255 intensity levels) whatever the
dataset's normalization, and every result is clamped to real pixel values.

- :func:`fgsm`: one step, ``clamp(x + eps * sign(grad_x loss), 0, 1)`` (Goodfellow et al.).
- :func:`pgd`: repeated signed steps projected back into the eps-ball and [0, 1], from a
  seeded random start (Madry et al.); it returns, per image, the iterate with the worst
  loss for the model, so it is never weaker than any of its own steps.

Untargeted attacks raise the cross-entropy of the true (or predicted) class; targeted ones
(``targeted=True``, ``labels`` = the wanted classes) lower the cross-entropy of the target.
Captum's ``FGSM``/``PGD`` are not used: its FGSM leaves pixels whose gradient is below 1e-6
untouched (a confidently classified image has gradients that small), and its PGD draws the
random start from the global RNG, so it cannot be seeded per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.interpret.subject import Subject
from cnnkit.numbers import check_range
from cnnkit.train.device import small_work_threads

__all__ = [
    "METHODS",
    "PGD_STEPS",
    "AttackResult",
    "adversarial_figure",
    "attack",
    "attack_loss",
    "check_labels",
    "check_pgd",
    "check_pixels",
    "eps_fraction",
    "evaluate_attack",
    "fgsm",
    "levels_hint",
    "percent",
    "pgd",
    "pixel_logits",
]

METHODS = ("fgsm", "pgd")
PGD_STEPS = 20  # the default number of PGD steps


def levels_hint(value: float, *, what: str = "eps") -> str:
    """'' unless ``value`` lies strictly between 0 and 1, where it looks like the papers'
    fraction of the pixel range (eps 0.03 for 8/255): then the fix, e.g. 'eps is in pixel
    levels out of 255; did you mean --eps 8?' (``what`` is '--eps' or 'eps')."""
    if not 0 < value < 1:
        return ""
    levels = max(1, round(value * 255))
    name = what.lstrip("-")
    written = f"{what} {levels}" if what.startswith("--") else f"{what}={levels}"
    return f"{name} is in pixel levels out of 255; did you mean {written}?"


def eps_fraction(eps: float, *, what: str = "eps") -> float:
    """A bound in 0-255 pixel units -> a fraction of the pixel range (8 -> 8/255).

    CnnkitError for a negative, non-finite or over-255 value, and for one strictly between
    0 and 1: a bound under one level is the papers' fraction written by mistake (0.03 would
    silently be 0.03/255 and change nothing), so the fix is named instead.
    """
    value = float(eps)
    if not math.isfinite(value) or value < 0 or value > 255:
        raise CnnkitError(
            f"{what} must be between 0 and 255 pixel levels (e.g. 8 for 8/255), got {eps}"
        )
    hint = levels_hint(value, what=what)
    if hint:
        raise CnnkitError(f"{what} {eps:g} is less than one pixel level: {hint}")
    return value / 255.0


def check_pgd(steps: int, step_size: float | None) -> None:
    """CnnkitError naming the option unless ``steps`` is a whole number >= 1 and
    ``step_size`` is None (the default, 2.5 * eps / steps) or in (0, 255] pixel levels:
    a step of 0 would never move the image."""
    check_range("--steps", steps, 1, integer=True)
    if step_size is not None:
        check_range("--step-size", step_size, 0, 255, strict=True)


def pixel_logits(subject: Subject) -> Callable[[Tensor], Tensor]:
    """pixels (N, C, H, W) in [0, 1] -> logits (N, classes), differentiable in the pixels."""

    def forward(pixels: Tensor) -> Tensor:
        return subject.model(subject.pixels_to_input(pixels)).float()

    return forward


def check_pixels(subject: Subject, pixels: Tensor) -> Tensor:
    """Validate pixels (C, H, W) or (N, C, H, W), float in [0, 1]; return (N, C, H, W)."""
    if pixels.dim() == 3:
        pixels = pixels.unsqueeze(0)
    if pixels.dim() != 4 or tuple(pixels.shape[1:]) != subject.input_shape:
        expected = "x".join(map(str, subject.input_shape))
        raise ShapeError(
            f"{subject.name} takes pixels of {expected} (CxHxW), got a tensor of "
            f"{'x'.join(map(str, pixels.shape))}; load files with Subject.read_image"
        )
    if not pixels.is_floating_point():
        raise ShapeError(f"pixels are floats in [0, 1], got {pixels.dtype}; divide stored uint8 images by 255")
    if pixels.numel() and (float(pixels.min()) < 0 or float(pixels.max()) > 1):
        raise ShapeError("pixels must lie in [0, 1]; clamp them or divide 0-255 values by 255")
    return pixels.float().to(subject.device)


def check_labels(subject: Subject, labels: Tensor | int, count: int) -> Tensor:
    """An int or (N,) class indices -> int64 (N,) on the subject's device (range checked)."""
    labels = torch.as_tensor(labels, dtype=torch.long, device=subject.device).reshape(-1)
    if labels.numel() == 1 and count > 1:
        labels = labels.expand(count)
    if labels.numel() != count:
        raise ShapeError(f"got {labels.numel()} labels for {count} images; give one class per image")
    bad = labels[(labels < 0) | (labels >= subject.num_classes)]
    if bad.numel():
        subject.class_index(int(bad[0]))  # raises the subject's clear out-of-range error
    return labels


def attack_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy per image (N,): what untargeted attacks raise and targeted ones lower."""
    return F.cross_entropy(logits, labels, reduction="none")


def _loss_and_grad(forward: Callable[[Tensor], Tensor], pixels: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(loss (N,), d loss_i / d pixels_i (N, C, H, W)); images are independent in eval mode."""
    with torch.enable_grad():
        x = pixels.detach().requires_grad_(True)
        loss = attack_loss(forward(x), labels)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


def fgsm(subject: Subject, pixels: Tensor, labels: Tensor | int, *, eps: float, targeted: bool = False) -> Tensor:
    """Fast gradient sign method: one step of ``eps`` (0-255 units) along sign(grad loss).

    pixels (N, C, H, W) in [0, 1], labels (N,) -> adversarial pixels (N, C, H, W) in [0, 1].
    Untargeted: ``clamp(x + eps/255 * sign(grad), 0, 1)`` with the loss of the true class;
    targeted: ``clamp(x - eps/255 * sign(grad), 0, 1)`` with the loss of the target class.
    """
    size = eps_fraction(eps)
    pixels = check_pixels(subject, pixels)
    labels = check_labels(subject, labels, pixels.shape[0])
    _, grad = _loss_and_grad(pixel_logits(subject), pixels, labels)
    direction = -1.0 if targeted else 1.0
    return (pixels + direction * size * grad.sign()).clamp(0, 1).detach()


def pgd(
    subject: Subject,
    pixels: Tensor,
    labels: Tensor | int,
    *,
    eps: float,
    steps: int = PGD_STEPS,
    step_size: float | None = None,
    targeted: bool = False,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Projected gradient descent in the L-infinity ball of radius ``eps`` (0-255 units).

    pixels (N, C, H, W) in [0, 1], labels (N,) -> adversarial pixels (N, C, H, W) in [0, 1]
    with ``|adv - pixels| <= eps/255`` everywhere. ``step_size`` (0-255 units, default
    ``2.5 * eps / steps``) is taken ``steps`` times along sign(grad), each step projected back
    into the ball and [0, 1]. ``random_start`` begins at a uniform point of the ball drawn
    from ``generator`` (a CPU torch.Generator; seed it for repeatable results). Per image the
    iterate with the highest loss (lowest for ``targeted``) is returned.
    """
    radius = eps_fraction(eps)
    check_pgd(steps, step_size)
    # a step may be a fraction of a level (the default 2.5 * eps / steps often is)
    step = step_size / 255.0 if step_size is not None else 2.5 * radius / steps
    pixels = check_pixels(subject, pixels)
    labels = check_labels(subject, labels, pixels.shape[0])
    forward = pixel_logits(subject)
    sign = -1.0 if targeted else 1.0  # maximize sign * loss

    low, high = (pixels - radius).clamp(min=0), (pixels + radius).clamp(max=1)
    current = pixels.clone()
    if random_start and radius > 0:
        noise = torch.rand(pixels.shape, generator=generator, dtype=pixels.dtype).to(pixels.device)
        current = torch.max(torch.min(pixels + (2 * noise - 1) * radius, high), low)
    best = current.clone()
    best_score = torch.full((pixels.shape[0],), -math.inf, device=pixels.device)
    for _ in range(steps):
        loss, grad = _loss_and_grad(forward, current, labels)
        best_score, best = _keep_best(sign * loss, current, best_score, best)
        current = torch.max(torch.min(current + sign * step * grad.sign(), high), low).detach()
    with torch.no_grad():
        final = sign * attack_loss(forward(current), labels)
    _, best = _keep_best(final, current, best_score, best)
    return best.detach()


def _keep_best(score: Tensor, candidate: Tensor, best_score: Tensor, best: Tensor) -> tuple[Tensor, Tensor]:
    better = score > best_score
    best = torch.where(better.view(-1, 1, 1, 1), candidate, best)
    return torch.where(better, score, best_score), best


@dataclass
class AttackResult:
    """An attack on N images. Pixels are float (N, C, H, W) in [0, 1]; probabilities (N, classes).

    ``labels`` are the classes attacked: the true class (else the predicted one) for an
    untargeted attack, the target for a targeted one.
    """

    original: Tensor
    adversarial: Tensor
    labels: Tensor
    targeted: bool
    probs_before: Tensor
    probs_after: Tensor
    method: str
    eps: float  # 0-255 units

    @property
    def perturbation(self) -> Tensor:
        """adversarial - original, (N, C, H, W), within [-eps/255, eps/255]."""
        return self.adversarial - self.original

    @property
    def success(self) -> Tensor:
        """(N,) bool: the prediction left the attacked class (reached the target if targeted)."""
        predicted = self.probs_after.argmax(1)
        return predicted == self.labels if self.targeted else predicted != self.labels


def attack(
    subject: Subject,
    pixels: Tensor,
    *,
    method: str = "pgd",
    eps: float = 8.0,
    labels: Tensor | int | None = None,
    target: int | str | None = None,
    steps: int = PGD_STEPS,
    step_size: float | None = None,
    seed: int = 0,
) -> AttackResult:
    """Attack pixels (N, C, H, W) in [0, 1] with ``method`` ('fgsm' or 'pgd').

    Untargeted against ``labels`` (default: the model's own predictions), or targeted at
    class ``target`` (index or name). PGD's random start is seeded with ``seed``.
    """
    from cnnkit.names import pick_choice

    method = pick_choice(method, METHODS, what="attack method")  # PGD, pgd ...
    eps_fraction(eps)
    pixels = check_pixels(subject, pixels)
    forward = pixel_logits(subject)
    with torch.no_grad():
        before = torch.softmax(forward(pixels), 1)
    targeted = target is not None
    if targeted:
        attacked = check_labels(subject, subject.class_index(target), pixels.shape[0])  # type: ignore[arg-type]
    elif labels is None:
        attacked = before.argmax(1)
    else:
        attacked = check_labels(subject, labels, pixels.shape[0])
    with small_work_threads(pixels.numel()):
        if method == "fgsm":
            adversarial = fgsm(subject, pixels, attacked, eps=eps, targeted=targeted)
        else:
            generator = torch.Generator().manual_seed(seed)
            adversarial = pgd(subject, pixels, attacked, eps=eps, steps=steps, step_size=step_size,
                              targeted=targeted, generator=generator)
    with torch.no_grad():
        after = torch.softmax(forward(adversarial), 1)
    return AttackResult(pixels, adversarial, attacked, targeted, before, after, method, float(eps))


def evaluate_attack(
    subject: Subject,
    count: int,
    *,
    method: str = "pgd",
    eps: float = 8.0,
    target: int | str | None = None,
    steps: int = PGD_STEPS,
    step_size: float | None = None,
    seed: int = 0,
    batch_size: int = 500,
) -> dict[str, float | int | str | None]:
    """Attack the first ``count`` test images of the subject's run and count what changed.

    Only images the model classifies correctly are attacked (and, for a targeted attack, only
    those not already of the target class). Returns a JSON-able dict: ``images``,
    ``clean_accuracy``, ``attacked`` (correct ones), ``fooled``, ``success_rate`` (fooled /
    attacked), ``adversarial_accuracy`` (on all ``count`` images), ``mean_confidence`` (mean
    top probability of the adversarial prediction over the fooled images) and the settings.
    """
    if count < 1:
        raise CnnkitError(f"--eval needs at least 1 image, got {count}")
    part = subject.dataset_split("test")
    count = min(count, len(part))
    goal = subject.class_index(target) if target is not None else None
    generator = torch.Generator().manual_seed(seed)
    correct = attacked = fooled = still_right = 0
    confidence_sum = 0.0
    forward = pixel_logits(subject)
    for start in range(0, count, batch_size):
        stored = part.x[start:min(start + batch_size, count)]
        truth = part.y[start:start + stored.shape[0]].long().to(subject.device)
        pixels = subject.check_stored(stored).to(subject.device).float() / 255.0
        with torch.no_grad():
            right = forward(pixels).argmax(1) == truth
        chosen = right if goal is None else right & (truth != goal)
        correct += int(right.sum())
        adversarial = pixels.clone()
        if chosen.any():
            labels = truth[chosen] if goal is None else torch.full_like(truth[chosen], goal)
            with small_work_threads(int(chosen.sum()) * pixels[0].numel()):
                if method == "fgsm":
                    adversarial[chosen] = fgsm(subject, pixels[chosen], labels, eps=eps, targeted=goal is not None)
                elif method == "pgd":
                    adversarial[chosen] = pgd(subject, pixels[chosen], labels, eps=eps, steps=steps,
                                              step_size=step_size, targeted=goal is not None, generator=generator)
                else:
                    raise CnnkitError(f"unknown attack method {method!r}; choose one of: {', '.join(METHODS)}")
        with torch.no_grad():
            probs = torch.softmax(forward(adversarial), 1)
        predicted = probs.argmax(1)
        hit = (predicted != truth) if goal is None else (predicted == goal)
        hit = hit & chosen
        attacked += int(chosen.sum())
        fooled += int(hit.sum())
        still_right += int((predicted == truth).sum())
        confidence_sum += float(probs.max(1).values[hit].sum())
    return {
        "method": method,
        "eps": float(eps),
        "target": subject.classes[goal] if goal is not None else None,
        "steps": steps if method == "pgd" else 1,
        "images": count,
        "clean_accuracy": correct / count,
        "attacked": attacked,
        "fooled": fooled,
        "success_rate": fooled / attacked if attacked else 0.0,
        "adversarial_accuracy": still_right / count,
        "mean_confidence": confidence_sum / fooled if fooled else 0.0,
    }


def percent(p: float) -> str:
    """A probability as a percentage, '<0.1%' when it would round to 0.0% (a target's
    starting probability usually does, and 0.0% would read as impossible)."""
    return f"{p:.1%}" if p >= 0.0005 or p == 0 else "<0.1%"


def adversarial_figure(subject: Subject, result: AttackResult, *, index: int = 0, truth: int | None = None) -> object:
    """Original (class, prob) | perturbation (diverging, in pixel levels) | adversarial.

    The perturbation of image ``index`` is drawn in 0-255 units on a colour scale spanning
    -eps..+eps (a grey picture would hide changes of a few levels), channel mean for colour.
    """
    from cnnkit.interpret.plots import DIVERGING, class_label, figure, show_image

    fig, axes = figure(1, 3, cell=2.6, title_space=0.3)
    before, after = result.probs_before[index], result.probs_after[index]
    known = f" (true: {subject.classes[truth]})" if truth is not None else ""
    show_image(axes[0, 0], result.original[index], title=f"original\n{class_label(subject.classes, before)}")
    change = (result.perturbation[index] * 255).mean(0).detach().cpu().numpy()
    limit = max(result.eps, 1e-6)
    shown = axes[0, 1].imshow(change, cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
    axes[0, 1].set_title(f"perturbation (bound {result.eps:g}/255)\nlargest change {abs(change).max():.1f}/255", fontsize=9)
    bar = fig.colorbar(shown, ax=axes[0, 1], fraction=0.046, pad=0.04)
    bar.set_label("change (pixel levels of 255)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    show_image(axes[0, 2], result.adversarial[index], title=f"adversarial\n{class_label(subject.classes, after)}")
    goal, verdict = "", "fooled" if bool(result.success[index]) else "not fooled"
    if result.targeted:
        aim = int(result.labels[index])
        goal = (f", target {subject.classes[aim]} {percent(float(before[aim]))} -> "
                f"{percent(float(after[aim]))}")
        verdict = "reached" if bool(result.success[index]) else "not reached"
    fig.suptitle(f"{subject.name}: {result.method.upper()} eps {result.eps:g}/255{goal}: {verdict}{known}", fontsize=10)
    return fig
