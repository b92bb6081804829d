"""Training progress on stderr: a rich bar on a terminal, plain lines elsewhere.

- ``RichProgress``: one bar over all steps of the run showing epoch, loss, accuracy,
  images/s and time left, plus one line per finished epoch.
- ``PlainProgress``: one line per finished epoch (for logs, pipes and CI), e.g.
  ``epoch 3/10  loss 0.4123  acc 85.12%  val_loss 0.3977  val_acc 86.03%  lr 0.0712  2087 img/s  29.1 s``
- ``SilentProgress``: nothing (``--quiet``, and every DDP process but rank 0).

Reading the running loss forces a device sync, so the bar refreshes at most every
half second rather than every step.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from torch import Tensor

__all__ = [
    "PlainProgress",
    "RichProgress",
    "SilentProgress",
    "format_epoch",
    "make_progress",
    "want_rich",
]


def want_rich(progress: bool | None) -> bool:
    """``None`` means: a rich bar when stderr is a terminal and CI is not set."""
    if progress is not None:
        return progress
    return sys.stderr.isatty() and not os.environ.get("CI")


def format_epoch(record: dict[str, Any], epochs: int) -> str:
    """The one-line summary of an epoch's metrics record."""
    parts = [f"epoch {record['epoch']}/{epochs}", f"loss {record['train_loss']:.4f}", f"acc {record['train_acc']:.2%}"]
    if record.get("val_loss") is not None:
        parts += [f"val_loss {record['val_loss']:.4f}", f"val_acc {record['val_acc']:.2%}"]
    parts += [f"lr {record['lr']:.4g}", f"{record['images_per_s']:.0f} img/s", f"{record['seconds']:.1f} s"]
    return "  ".join(parts)


class SilentProgress:
    def start(self, total_steps: int, done_steps: int) -> None:
        pass

    def update(self, epoch: int, step: int, loss: Tensor, correct: Tensor, seen: int, images_per_s: float) -> None:
        pass

    def epoch_done(self, record: dict[str, Any], epochs: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress(SilentProgress):
    def epoch_done(self, record: dict[str, Any], epochs: int) -> None:
        self.message(format_epoch(record, epochs))

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


class RichProgress(SilentProgress):
    """A rich progress bar over every optimiser step of the run."""

    def __init__(self, epochs: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True, highlight=False)
        self.epochs = epochs
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}  {task.fields[ips]} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None
        self._last = 0.0

    def start(self, total_steps: int, done_steps: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task(
            "train", total=total_steps, completed=done_steps, epoch=1, epochs=self.epochs, loss="-", acc="-", ips="-"
        )

    def update(self, epoch: int, step: int, loss: Tensor, correct: Tensor, seen: int, images_per_s: float) -> None:
        now = time.perf_counter()
        if now - self._last < 0.5:
            self.bar.update(self.task, completed=step, epoch=epoch)
            return
        self._last = now
        self.bar.update(
            self.task,
            completed=step,
            epoch=epoch,
            loss=f"{float(loss):.4f}",
            acc=f"{float(correct) / max(seen, 1):.2%}",
            ips=f"{images_per_s:.0f}",
        )

    def epoch_done(self, record: dict[str, Any], epochs: int) -> None:
        self.message(format_epoch(record, epochs))

    def message(self, text: str) -> None:
        self.bar.console.print(text, markup=False)

    def close(self) -> None:
        self.bar.stop()


def make_progress(progress: bool | None, *, quiet: bool, main_process: bool, epochs: int) -> SilentProgress:
    if quiet or not main_process:
        return SilentProgress()
    return RichProgress(epochs) if want_rich(progress) else PlainProgress()
