"""A run's learning rate over all its steps, including the cycles added by ``--more``.

A run trains in one cycle of its schedule (``config.schedule``: warm-up, then the decay)
over ``config.epochs``. ``cnnkit train --resume RUN --more N`` continues a *finished*
run for N more epochs: a new cycle of the same schedule, as a warm restart (SGDR; fastai's
``fit_one_cycle`` called again). Each continuation is one record in ``config.more``::

    {"after_epoch": 5, "epochs": 3, "lr": 0.04, "command": "cnnkit train --resume ..."}

Its peak learning rate is ``lr`` (by default a tenth of the run's: the weights are already
good, and a full-height restart would first undo much of what the first cycle reached),
and its warm-up is the run's ``warmup_epochs``, at most a quarter of the new cycle.
``config.epochs`` counts every epoch, so a continued run of 5 + 3 epochs has epochs 8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnkit.errors import RunError
from cnnkit.train.schedule import Schedule

__all__ = ["MORE_LR_FACTOR", "MORE_WARMUP_SHARE", "Cycle", "CycleSchedule", "run_schedule"]

MORE_LR_FACTOR = 0.1  # a continuation's default peak, relative to the run's peak lr
MORE_WARMUP_SHARE = 0.25  # a continuation warms up for at most this share of its epochs


@dataclass(frozen=True)
class Cycle:
    """One cycle of the schedule: its first optimiser step and its per-step curve."""

    first_step: int
    schedule: Schedule


@dataclass(frozen=True)
class CycleSchedule:
    """Learning rate per optimiser step over every cycle of a run (``lr(step)``, 0-based)."""

    cycles: tuple[Cycle, ...]

    def lr(self, step: int) -> float:
        current = self.cycles[0]
        for cycle in self.cycles[1:]:
            if step >= cycle.first_step:
                current = cycle
        return current.schedule.lr(step - current.first_step)

    @property
    def total_steps(self) -> int:
        last = self.cycles[-1]
        return last.first_step + last.schedule.total_steps

    def curve(self) -> list[float]:
        """Every step's learning rate (for plots and tests)."""
        return [self.lr(s) for s in range(self.total_steps)]


def run_schedule(
    *, kind: str, lr: float, epochs: int, warmup_epochs: float, more: list[dict[str, Any]], steps_per_epoch: int
) -> CycleSchedule:
    """The schedule of a run of ``epochs`` epochs in all, whose continuations are ``more``.

    ``warmup_epochs`` is the first cycle's warm-up (fractions allowed); every later cycle
    warms up for ``min(warmup_epochs, MORE_WARMUP_SHARE * its epochs)``.
    """
    first_epochs = int(more[0]["after_epoch"]) if more else epochs
    spans = [(0, first_epochs, lr, warmup_epochs)]
    for record in more:
        start, length = int(record["after_epoch"]), int(record["epochs"])
        spans.append((start, length, float(record["lr"]), min(warmup_epochs, MORE_WARMUP_SHARE * length)))
    if sum(length for _, length, _, _ in spans) != epochs:
        raise RunError(
            f"the run's config.json says {epochs} epochs but its cycles add up to "
            f"{sum(length for _, length, _, _ in spans)}; the file was edited: restore it"
        )
    cycles = []
    for start, length, peak, warmup in spans:
        total = length * steps_per_epoch
        cycles.append(Cycle(start * steps_per_epoch, Schedule(kind, peak, total, min(total, round(warmup * steps_per_epoch)))))
    return CycleSchedule(tuple(cycles))
