"""The epoch loop: batches, augmentation, steps, validation, metrics, checkpoints, early stop.

:class:`EpochRunner` owns the training state of one run (model, optimizer, schedule
position, metrics so far, early-stopping counters) and the per-epoch work; the trainer
(:mod:`cnnkit.train.trainer`) prepares the data and model around it and writes the
final files. See the trainer's docstring for what is seeded and how.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnkit.data.tensordata import Splits
from cnnkit.errors import RunError
from cnnkit.train import distributed
from cnnkit.train.checkpoint import load_checkpoint, save_checkpoint
from cnnkit.train.config import TrainConfig
from cnnkit.train.device import Runtime
from cnnkit.train.evaluate import evaluate
from cnnkit.train.freeze import keep_frozen_norms_in_eval
from cnnkit.train.prepare import derive_seed
from cnnkit.train.progress import make_progress
from cnnkit.train.cycles import run_schedule
from cnnkit.train.step import LossGuard, NonFiniteLoss, apply_update, forward_backward, make_loss

__all__ = ["EpochRunner"]


class EpochRunner:
    """Trains ``model`` epoch by epoch; ``fit(run)`` runs the remaining epochs."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        splits: Splits,
        config: TrainConfig,
        runtime: Runtime,
        *,
        rank: int = 0,
        world: int = 1,
        progress: bool | None = None,
        quiet: bool = False,
    ) -> None:
        from cnnkit.data.augment import Augment, AugmentConfig
        from cnnkit.data.loader import num_batches

        self.raw = model
        self.optimizer = optimizer
        self.config = config
        self.runtime = runtime
        self.rank, self.world = rank, world
        self.info = splits.info
        self.train_split = splits.train.to(runtime.device)  # the whole set on the device
        self.val_split = splits.val.to(runtime.device)

        self.eval_model: nn.Module = torch.compile(model) if config.compile else model
        self.train_model: nn.Module = self.eval_model
        if world > 1:
            ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(self.eval_model, device_ids=ids)

        n = len(self.train_split)
        if n == 0:
            raise RunError(f"{self.info.name} has no training samples; check the dataset (or --limit)")
        self.local_batch = config.batch_size // world
        self.drop_last = n >= config.batch_size  # equal-sized steps, unless the set is tiny
        self.steps_per_epoch = num_batches(n, self.local_batch, self.drop_last, (rank, world))
        if self.steps_per_epoch < 1:
            raise RunError(
                f"{n} training samples make no batch of {self.local_batch} per process; use a smaller --batch-size"
            )
        self.schedule = run_schedule(
            kind=config.schedule, lr=config.lr, epochs=config.epochs, warmup_epochs=config.warmup_epochs,
            more=config.more, steps_per_epoch=self.steps_per_epoch,
        )  # fmt: skip

        aug_config = AugmentConfig.for_dataset(self.info, level=config.augment)
        if config.augment_options:
            aug_config = dataclasses.replace(aug_config, **config.augment_options)
        self.augment = Augment(aug_config)
        self.loss_fn = make_loss(config.label_smoothing)
        self.guard = LossGuard(runtime.device)
        self.progress = make_progress(progress, quiet=quiet, main_process=rank == 0, epochs=config.epochs)

        # The state a checkpoint carries.
        self.epoch = 0  # epochs finished
        self.step = 0  # optimiser steps taken
        self.metrics: list[dict[str, Any]] = []
        self.best_val_acc: float | None = None
        self.since_best = 0
        self.stopped_early = False

    # -- checkpoints --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "metrics": self.metrics,
            "best_val_acc": self.best_val_acc,
            "since_best": self.since_best,
            "stopped_early": self.stopped_early,
        }

    def restore(self, run_dir: str | Path) -> bool:
        """Load the checkpoint in ``run_dir`` if there is one; False when starting afresh."""
        state = load_checkpoint(run_dir, self.raw, self.optimizer)
        if state is None:
            return False
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.metrics = list(state["metrics"])
        self.best_val_acc = state["best_val_acc"]
        self.since_best = int(state["since_best"])
        self.stopped_early = bool(state["stopped_early"])
        if self.epoch > self.config.epochs:
            raise RunError(f"the checkpoint in {run_dir} is past the run's {self.config.epochs} epochs; it is from another run")
        return True

    def continue_finished(self) -> None:
        """After :meth:`restore` of a finished run that ``--more`` extends: an early stop
        ended the last cycle, not the new one, so its counters start again."""
        self.stopped_early = False
        self.since_best = 0

    # -- the loop -----------------------------------------------------------------------
    def fit(self, run: Any | None) -> None:
        """Train the remaining epochs; ``run`` (a RunDir, rank 0 only) gets metrics and checkpoints."""
        if self.epoch:
            self.progress.message(f"resuming after epoch {self.epoch} of {self.config.epochs}")
        self.progress.start(self.config.epochs * self.steps_per_epoch, self.step)
        while self.epoch < self.config.epochs and not self.stopped_early:
            epoch = self.epoch + 1
            first_step = self.step
            try:
                record = self.run_epoch(epoch)
            except NonFiniteLoss as bad:
                raise RunError(self._nan_message(bad, epoch, first_step, run)) from None
            self.epoch = epoch
            self.metrics.append(record)
            self._early_stopping(record)
            if run is not None:
                run.append_metrics(record)
                save_checkpoint(run.path, self.raw, self.optimizer, self.state())
            self.progress.epoch_done(record, self.config.epochs)
        if self.stopped_early:
            self.progress.message(
                f"stopped early after epoch {self.epoch}: no better validation accuracy for "
                f"{self.config.early_stopping} epochs"
            )

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over this process's shard of the training split; returns the metrics record."""
        from cnnkit.data.loader import batches

        config, device = self.config, self.runtime.device
        torch.manual_seed(derive_seed(config.seed, "torch", epoch, self.rank))  # dropout
        order = torch.Generator().manual_seed(derive_seed(config.seed, "shuffle", epoch))  # same on every rank
        # CUDA draws augmentation parameters on the GPU; elsewhere a CPU generator (MPS's are limited).
        aug_device = device if device.type == "cuda" else torch.device("cpu")
        aug_gen = torch.Generator(device=aug_device).manual_seed(derive_seed(config.seed, "augment", epoch, self.rank))

        self.train_model.train()
        keep_frozen_norms_in_eval(self.raw)  # frozen layers (fine-tuning) keep their BN statistics
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        lr = self.schedule.lr(self.step)
        started = time.perf_counter()
        for xb, yb in batches(
            self.train_split,
            batch_size=self.local_batch,
            shuffle=True,
            generator=order,
            drop_last=self.drop_last,
            shard=(self.rank, self.world),
        ):
            lr = self.schedule.lr(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            x = self.augment(self.info.normalize(xb.to(device, non_blocking=True)), aug_gen)
            y = yb.to(device, non_blocking=True)
            loss, hits = forward_backward(self.train_model, x, y, loss_fn=self.loss_fn, runtime=self.runtime)
            self.guard.add(self.step, loss)  # on the CPU: raises before a bad update
            apply_update(self.train_model, self.optimizer, grad_clip=config.grad_clip)
            loss_sum += loss.double() * len(y)
            correct += hits
            seen += len(y)
            self.step += 1
            elapsed = time.perf_counter() - started
            self.progress.update(epoch, self.step, loss, correct, seen, seen * self.world / max(elapsed, 1e-9))
        self.guard.check()
        totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), dtype=torch.float64, device=device)])
        distributed.all_reduce_sum(totals)  # also waits for the device: the timing below is honest
        seconds = time.perf_counter() - started
        count = float(totals[2])

        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": float(totals[0]) / count,
            "train_acc": float(totals[1]) / count,
            "val_loss": None,
            "val_acc": None,
            "lr": lr,
            "seconds": seconds,
            "images_per_s": count / seconds,
        }
        if len(self.val_split):
            val = evaluate(
                self.eval_model,
                self.val_split,
                self.info,
                batch_size=config.eval_batch_size,
                device=device,
                amp_dtype=self.runtime.amp_dtype,
                channels_last=self.runtime.channels_last,
                shard=(self.rank, self.world),
            )
            record.update(val_loss=val.loss, val_acc=val.accuracy, eval_seconds=val.seconds)
        record["step"] = self.step
        return record

    def _early_stopping(self, record: dict[str, Any]) -> None:
        acc = record.get("val_acc")
        if acc is None or (isinstance(acc, float) and math.isnan(acc)):
            return
        if self.best_val_acc is None or acc > self.best_val_acc:
            self.best_val_acc, self.since_best = acc, 0
        else:
            self.since_best += 1
        patience = self.config.early_stopping
        if patience and self.since_best >= patience and self.epoch < self.config.epochs:
            self.stopped_early = True

    def _nan_message(self, bad: NonFiniteLoss, epoch: int, first_step: int, run: Any | None) -> str:
        where = f"epoch {epoch}, step {bad.step - first_step + 1} of {self.steps_per_epoch}"
        lr = self.schedule.lr(bad.step)
        if run is not None and self.epoch:
            kept = f"the checkpoint of epoch {self.epoch} in {run.path} is intact; "
        else:
            kept = "no epoch had finished, so there is no checkpoint; "
        return (
            f"training stopped: the loss became {bad.value} at {where} (learning rate {lr:.3g}); "
            f"{kept}train again with a lower --lr (e.g. {self.config.lr / 10:.3g}) or with --grad-clip 1.0"
        )

    def close(self) -> None:
        self.progress.close()
