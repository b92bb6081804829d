"""Per-step learning-rate schedules: one-cycle, cosine with warm-up, constant with warm-up.

A schedule is a pure function of the step number (0-based, one step = one optimiser
update), so resuming a run needs only the step count, not a scheduler object:

    sched = Schedule("onecycle", peak_lr=0.1, total_steps=2000, warmup_steps=300)
    for step in range(2000):
        for group in optimizer.param_groups:
            group["lr"] = sched.lr(step)

- ``onecycle``: the curve of ``torch.optim.lr_scheduler.OneCycleLR`` (two phases, cosine
  annealing): from peak/25 up to the peak at step ``warmup_steps - 1``, then down to
  peak/250000 at the last step.
- ``cosine``: linear warm-up from 0 (exclusive) to the peak over ``warmup_steps``, then
  half a cosine from the peak down to 0 at the end.
- ``constant``: the same warm-up, then the peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnkit.errors import CnnkitError

__all__ = ["ONECYCLE_DIV", "ONECYCLE_FINAL_DIV", "Schedule"]

ONECYCLE_DIV = 25.0  # start at peak / 25 (torch's div_factor)
ONECYCLE_FINAL_DIV = 1e4  # end at start / 1e4 (torch's final_div_factor)


@dataclass(frozen=True)
class Schedule:
    """Learning rate as a function of the step. ``warmup_steps`` may be 0."""

    kind: str
    peak_lr: float
    total_steps: int
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("onecycle", "cosine", "constant"):
            raise CnnkitError(f"unknown schedule {self.kind!r}; choose onecycle, cosine or constant")
        if self.total_steps < 1:
            raise CnnkitError(f"a schedule needs at least 1 step, got {self.total_steps}")
        if not 0 <= self.warmup_steps <= self.total_steps:
            raise CnnkitError(
                f"warm-up of {self.warmup_steps} steps does not fit in {self.total_steps} steps; "
                "use fewer --warmup-epochs"
            )

    def lr(self, step: int) -> float:
        """The learning rate for optimiser step ``step`` (0-based; clamped to the last step)."""
        step = min(max(step, 0), self.total_steps - 1)
        if self.kind == "onecycle":
            return self._onecycle(step)
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.peak_lr
        decay_steps = self.total_steps - self.warmup_steps
        progress = (step - self.warmup_steps) / decay_steps
        return self.peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def _onecycle(self, step: int) -> float:
        start = self.peak_lr / ONECYCLE_DIV
        final = start / ONECYCLE_FINAL_DIV
        # Phase ends as torch computes them: the peak is reached at step warmup - 1
        # (step 0 when there is no warm-up, where torch would never quite reach it).
        peak_step = float(max(self.warmup_steps, 1)) - 1.0
        last_step = float(self.total_steps - 1)
        if step <= peak_step:
            return _cos_anneal(start, self.peak_lr, step / peak_step if peak_step > 0 else 1.0)
        pct = (step - peak_step) / (last_step - peak_step)  # step > peak_step, so span > 0
        return _cos_anneal(self.peak_lr, final, pct)

    def curve(self) -> list[float]:
        """Every step's learning rate (for plots and tests)."""
        return [self.lr(s) for s in range(self.total_steps)]


def _cos_anneal(begin: float, end: float, pct: float) -> float:
    """Cosine interpolation from ``begin`` (pct 0) to ``end`` (pct 1)."""
    return end + (begin - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
