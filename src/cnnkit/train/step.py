"""One optimisation step (bf16 autocast, label-smoothed loss, clipping) and the NaN guard.

The forward pass runs under autocast when the runtime asks for it; the loss is computed
in fp32 from the logits; gradients are clipped to ``grad_clip`` (global L2 norm) when
that is above 0. The step returns detached device tensors, so the loop does not wait for
the device unless it wants a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.train import distributed
from cnnkit.train.device import Runtime

__all__ = ["LossGuard", "NonFiniteLoss", "apply_update", "forward_backward", "make_loss"]


class NonFiniteLoss(Exception):
    """Raised by :class:`LossGuard`; the trainer turns it into a RunError with advice."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"loss {value} at step {step}")
        self.step = step
        self.value = value


def make_loss(label_smoothing: float) -> Callable[[Tensor, Tensor], Tensor]:
    """Mean cross-entropy of fp32 logits (N, C) against int64 targets (N,)."""

    def loss_fn(logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)

    return loss_fn


def forward_backward(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    runtime: Runtime,
) -> tuple[Tensor, Tensor]:
    """Forward and backward for one batch; returns (mean loss, number correct), detached.

    ``x`` is the normalized, augmented float batch (N, C, ...); ``y`` int64 (N,).
    """
    if runtime.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with runtime.autocast():
        logits = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    correct = (logits.detach().argmax(dim=1) == y).sum()
    return loss.detach(), correct


def apply_update(model: nn.Module, optimizer: torch.optim.Optimizer, *, grad_clip: float) -> None:
    """Clip (if asked), step, and clear the gradients."""
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


class LossGuard:
    """Watches per-step losses and raises :class:`NonFiniteLoss` for nan or inf.

    On the CPU every step is checked before the weights are updated, so the model in
    memory never takes a non-finite step. On an accelerator reading the loss forces a
    wait, so losses are checked every ``every`` steps (the weights may then have taken
    the bad steps; the last epoch checkpoint stays good). Under DDP the verdict is
    all-reduced, so every process stops at the same step.
    """

    def __init__(self, device: torch.device, *, every: int | None = None) -> None:
        self.every = every if every is not None else (1 if device.type == "cpu" else 20)
        self.device = device
        self._pending: list[tuple[int, Tensor]] = []

    def add(self, step: int, loss: Tensor) -> None:
        """Record ``loss`` (scalar) of global step ``step``; check when the window is full."""
        self._pending.append((step, loss))
        if len(self._pending) >= self.every:
            self.check()

    def check(self) -> None:
        if not self._pending:
            return
        losses = torch.stack([loss.float() for _, loss in self._pending])
        bad = ~torch.isfinite(losses)
        flag = bad.any().to(torch.int64).reshape(1)
        distributed.all_reduce_max(flag)
        steps = [s for s, _ in self._pending]
        self._pending.clear()
        if int(flag.item()):
            local = bad.nonzero()
            index = int(local[0]) if len(local) else 0
            value = float(losses[index]) if len(local) else math.nan  # another process saw it
            raise NonFiniteLoss(steps[index], value)
