"""``cnnkit train``: train a model on a dataset into a run directory, or resume one.

Thin: collect the options that were given, lay them over the preset
(:meth:`TrainConfig.from_preset`), call :func:`cnnkit.train.trainer.train`, print where
the run went and its test accuracy (or everything as JSON).
"""

from __future__ import annotations

import os
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli.options import JSON, NAME, QUIET, THREADS, run_out

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_command(
        ctx: typer.Context,
        model: Optional[str] = typer.Argument(
            None, metavar="MODEL_OR_SPEC", help="A zoo name (cnnkit models), a spec in quotes, or a spec file [default: quicknet, see `cnnkit models`]."
        ),
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset name or folder:PATH [default: fashion-mnist]."),
        preset: str = typer.Option("fast", "--preset", "-p", help="Starting settings: fast or best (options below override them)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", "-e", min=1, help="Passes over the training split."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help="Images per step (all processes together)."),
        lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Peak learning rate."),
        optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd (Nesterov momentum) or adamw."),
        schedule: Optional[str] = typer.Option(None, "--schedule", help="onecycle, cosine or constant (all with warm-up)."),
        warmup_epochs: Optional[float] = typer.Option(None, "--warmup-epochs", min=0.0, help="Epochs of learning-rate warm-up."),
        weight_decay: Optional[float] = typer.Option(None, "--weight-decay", min=0.0, help="Weight decay (not on biases and BN)."),
        label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", min=0.0, max=0.99, help="Target smoothing, 0 = off."),
        grad_clip: Optional[float] = typer.Option(None, "--grad-clip", min=0.0, help="Max gradient norm, 0 = off."),
        augment: Optional[str] = typer.Option(None, "--augment", help="Augmentation level: light, none or strong."),
        cutout: Optional[int] = typer.Option(None, "--cutout", min=0, help="Cutout square side in pixels, 0 = off."),
        early_stopping: Optional[int] = typer.Option(None, "--early-stopping", min=0, help="Stop after N epochs without a better val accuracy."),
        tta: Optional[bool] = typer.Option(None, "--tta/--no-tta", help="Flip test-time augmentation for the test figures."),
        flips: Optional[bool] = typer.Option(None, "--flips/--no-flips", help="A horizontal flip keeps the label (turns flip augmentation and TTA on) [default: the dataset's say]."),
        input_shape: Optional[str] = typer.Option(None, "--input", "-i", help="Convert the data to this shape, e.g. 3x64x64."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most N samples per split (quick tries)."),
        skip_bad: Optional[bool] = typer.Option(None, "--skip-bad", help="folder: data: leave unreadable image files out (a note names them) instead of stopping."),
        val_fraction: Optional[float] = typer.Option(None, "--val-fraction", min=0.0, max=0.9, help="Share of training data held out."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed for split, weights, shuffling, augmentation [default: 0]."),
        device: Optional[str] = typer.Option(None, "--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps [default: auto]."),
        threads: Optional[int] = THREADS,
        amp: Optional[str] = typer.Option(None, "--amp", help="bf16 autocast: auto, bf16 or off."),
        channels_last: Optional[str] = typer.Option(None, "--channels-last", help="NHWC memory layout: auto, on or off."),
        compile_model: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model."),
        out: Optional[Path] = run_out("DATA-MODEL"),
        name: Optional[str] = NAME,
        resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
        more: Optional[int] = typer.Option(None, "--more", min=1, help="With --resume: train a finished run N more epochs, as a new learning-rate cycle (peak: a tenth of the run's, or --lr)."),
        quiet: bool = QUIET,
        as_json: bool = JSON,
    ) -> None:
        """Train a model on a dataset and write a run directory (weights, metrics, plots, report).

        Progress goes to stderr: a bar on a terminal, one line per epoch otherwise.
        Under `torchrun --nproc-per-node N` the same command trains with
        DistributedDataParallel and only the first process writes the run.

        \b
        Examples:
          cnnkit train                                   # quicknet on Fashion-MNIST, preset fast
          cnnkit train resnet20 --data cifar10 --preset best --name r20
          cnnkit train 'INPUT(1x28x28) -> [CONV(32, k=3) -> BN -> RELU -> POOL]*2 -> FC' --epochs 5
          cnnkit train --data digits --input 1x28x28 --limit 500 --epochs 5 --batch-size 32 --json
          cnnkit train --data folder:photos --input 3x64x64 --augment strong --flips --tta
          cnnkit train --resume runs/fashion-mnist-quicknet-1
          cnnkit train --resume runs/fashion-mnist-quicknet-1 --more 3      # a finished run, 3 more epochs
          torchrun --nproc-per-node 2 -m cnnkit train --data mnist --name ddp
        """
        from cnnkit.cli.common import (
            RESUME_KEEPS,
            Interrupted,
            check_nothing_else_on_resume,
            interrupted_line,
        )
        from cnnkit.errors import CnnkitError
        from cnnkit.train.trainer import train

        command = shlex.join(["cnnkit", *sys.argv[1:]]) if sys.argv and "cnnkit" in sys.argv[0] else None
        if more is not None and resume is None:
            raise CnnkitError("--more continues a finished run: give it with --resume RUN (for a new run use --epochs)")
        if resume is not None:
            allowed = (*RESUME_KEEPS, "data", *(("more", "lr") if more is not None else ()))  # --data: moved folder data
            check_nothing_else_on_resume(ctx, "cnnkit train", allowed=allowed)
            target = resume
            work = partial(train, None, data, out=resume, resume=True, progress=None, quiet=quiet or as_json,
                           command=command, more=more, more_lr=lr)  # fmt: skip
        else:
            options: dict[str, Any] = {
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "optimizer": optimizer,
                "schedule": schedule,
                "warmup_epochs": warmup_epochs,
                "weight_decay": weight_decay,
                "label_smoothing": label_smoothing,
                "grad_clip": grad_clip,
                "augment": augment,
                "early_stopping": early_stopping,
                "tta_flip": tta,
                "flips": flips,
                "limit": limit,
                "skip_bad": skip_bad,
                "val_fraction": val_fraction,
                "seed": seed,
                "device": device,
                "amp": amp,
                "channels_last": channels_last,
                "compile": compile_model,
            }
            given = {k: v for k, v in options.items() if v is not None}
            if cutout is not None:
                given["augment_options"] = {"cutout": cutout}
            if input_shape is not None:
                from cnnkit.cli.common import parse_shape

                given["input_shape"] = parse_shape(input_shape)
            from cnnkit.cli.common import run_directory
            from cnnkit.nn.build import looks_like_spec
            from cnnkit.train.config import DEFAULT_MODEL

            tag = "spec" if looks_like_spec(model or DEFAULT_MODEL) else (model or DEFAULT_MODEL)
            target = run_directory(out, name, stem=f"{data or 'fashion-mnist'}-{tag}")
            work = partial(
                train, model, data, out=target, preset=preset, progress=None, quiet=quiet or as_json, command=command, **given
            )
        from cnnkit.train.device import check_threads, torch_threads

        check_threads(threads)
        try:
            with torch_threads(threads):
                result = work()
        except KeyboardInterrupt:
            raise Interrupted(interrupted_line(target, "cnnkit train")) from None

        if os.environ.get("RANK", "0") != "0":  # under torchrun only the first process reports
            return
        if as_json:
            from cnnkit.cli.common import print_json

            print_json(result.to_dict())
            return
        from cnnkit.cli.common import quiet_line, result_lines

        typer.echo(quiet_line(result) if quiet else "\n".join([f"run: {result.run_dir}", *result_lines(result)]))
