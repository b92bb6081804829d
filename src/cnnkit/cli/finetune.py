"""``cnnkit finetune``: transfer a trained run (or torchvision weights) to another dataset.

Thin: collect the options that were given, call :func:`cnnkit.train.transfer.finetune`
(or ``resume_finetune``), print the source, what was frozen, the test accuracy and where
the run went (or everything as JSON).
"""

from __future__ import annotations

import os
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any

import typer

from cnnkit.cli.options import THREADS
from cnnkit.errors import CnnkitError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("finetune")
    def finetune_command(
        ctx: typer.Context,
        source: str | None = typer.Argument(
            None,
            metavar="RUN_OR_MODEL",
            help="A run directory (runs/NAME), or a zoo model with --pretrained.",
        ),
        data: str | None = typer.Option(
            None, "--data", "-d", help="Target dataset name or folder:PATH (required)."
        ),
        freeze: str | None = typer.Option(
            None,
            "--freeze",
            help="Freeze the first N weighted layers (conv/linear, with their BN), or 'all' but the classifier [default: 0].",
        ),
        freeze_until: str | None = typer.Option(
            None,
            "--freeze-until",
            help="Freeze every layer up to and including this module, e.g. features.stage2.",
        ),
        pretrained: str | None = typer.Option(
            None,
            "--pretrained",
            help="For a zoo model: DEFAULT (torchvision's weights) or a .pth/.safetensors file.",
        ),
        per_class: int | None = typer.Option(
            None,
            "--per-class",
            min=1,
            help="Train on only K labelled examples per class.",
        ),
        normalize: str = typer.Option(
            "source",
            "--normalize",
            help="Input mean/std: source (the starting model's) or target.",
        ),
        preset: str = typer.Option(
            "fast",
            "--preset",
            "-p",
            help="Starting settings: fast or best (lr scaled by 0.1).",
        ),
        epochs: int | None = typer.Option(
            None, "--epochs", "-e", min=1, help="Passes over the training split."
        ),
        batch_size: int | None = typer.Option(
            None,
            "--batch-size",
            "-b",
            min=1,
            help="Images per step [default: the preset's, at most a quarter of the training set].",
        ),
        lr: float | None = typer.Option(
            None,
            "--lr",
            min=0.0,
            help="Peak learning rate [default: 0.1x the preset's].",
        ),
        optimizer: str | None = typer.Option(
            None, "--optimizer", help="sgd (Nesterov momentum) or adamw."
        ),
        schedule: str | None = typer.Option(
            None, "--schedule", help="onecycle, cosine or constant (all with warm-up)."
        ),
        weight_decay: float | None = typer.Option(
            None, "--weight-decay", min=0.0, help="Weight decay (not on biases and BN)."
        ),
        augment: str | None = typer.Option(
            None, "--augment", help="Augmentation level: light, none or strong."
        ),
        flips: bool | None = typer.Option(
            None, "--flips/--no-flips",
            help="A horizontal flip keeps the label (turns flip augmentation and TTA on) [default: the dataset's say].",
        ),
        input_shape: str | None = typer.Option(
            None,
            "--input",
            "-i",
            help="For a zoo model: convert the data to this shape, e.g. 3x64x64.",
        ),
        limit: int | None = typer.Option(
            None, "--limit", min=1, help="At most N samples per split (quick tries)."
        ),
        val_fraction: float | None = typer.Option(
            None,
            "--val-fraction",
            min=0.0,
            max=0.9,
            help="Share of training data held out.",
        ),
        seed: int | None = typer.Option(
            None,
            "--seed",
            help="Seed for split, examples, new classifier, shuffling [default: 0].",
        ),
        device: str | None = typer.Option(
            None, "--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps [default: auto]."
        ),
        threads: int | None = THREADS,
        amp: str | None = typer.Option(
            None, "--amp", help="bf16 autocast: auto, bf16 or off."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Run directory [default: runs/DATA-finetune-N]."
        ),
        name: str | None = typer.Option(
            None, "--name", "-n", help="Run name: the run directory is runs/NAME."
        ),
        resume: Path | None = typer.Option(
            None, "--resume", help="Continue the fine-tuning run in this directory."
        ),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="Print nothing but the result."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Fine-tune a trained model on another dataset: freeze lower layers, new classifier.

        The data is converted to the starting model's input shape and normalized with
        its mean and std; the learning rate defaults to 0.1x the preset's. The result is
        a normal run directory: `cnnkit eval` and `cnnkit predict` work on it.

        \b
        Examples:
          cnnkit finetune runs/fmnist --data digits --freeze 2 --per-class 10 --epochs 20
          cnnkit finetune runs/fmnist --data mnist --freeze-until features.stage2 --name mnist-ft
          cnnkit finetune runs/fmnist --data folder:my-shoes --freeze all      # linear probe
          cnnkit finetune resnet18 --pretrained DEFAULT --data folder:photos --input 3x64x64
          cnnkit finetune resnet18 --pretrained resnet18.pth --data cifar10 --freeze-until features.layer2
          cnnkit finetune --resume runs/digits-finetune-1
        """
        from cnnkit.train.transfer import finetune, resume_finetune

        command = (
            shlex.join(["cnnkit", *sys.argv[1:]])
            if sys.argv and "cnnkit" in sys.argv[0]
            else None
        )
        from cnnkit.cli.common import (
            Interrupted,
            check_nothing_else_on_resume,
            interrupted_line,
        )

        if resume is not None:
            check_nothing_else_on_resume(ctx, "cnnkit finetune")
            target = resume
            work = partial(resume_finetune, resume, quiet=quiet or as_json, command=command)
        else:
            if source is None:
                raise CnnkitError(
                    "give the starting point: a run directory (runs/NAME) or a zoo model with --pretrained"
                )
            if data is None:
                raise CnnkitError(
                    "give the target dataset with --data, e.g. --data digits or --data folder:PATH"
                )
            options: dict[str, Any] = {
                "epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
                "schedule": schedule, "weight_decay": weight_decay, "augment": augment, "limit": limit,
                "val_fraction": val_fraction, "seed": seed, "device": device, "amp": amp, "flips": flips,
            }  # fmt: skip
            given = {k: v for k, v in options.items() if v is not None}
            shape = None
            if input_shape is not None:
                from cnnkit.cli.common import parse_shape

                shape = parse_shape(input_shape)
            from cnnkit.cli.common import run_directory

            target = run_directory(out, name, stem=f"{data}-finetune")
            work = partial(
                finetune, source, data, freeze=freeze, freeze_until=freeze_until, pretrained=pretrained,
                per_class=per_class, normalization=normalize, input_shape=shape, preset=preset,
                out=target, quiet=quiet or as_json, command=command, **given,
            )  # fmt: skip
        from cnnkit.train.device import check_threads, torch_threads

        check_threads(threads)
        try:
            with torch_threads(threads):
                result = work()
        except KeyboardInterrupt:
            raise Interrupted(interrupted_line(target, "cnnkit finetune")) from None

        if (
            os.environ.get("RANK", "0") != "0"
        ):  # under torchrun only the first process reports
            return
        if as_json:
            from cnnkit.cli.common import print_json

            print_json(result.to_dict())
            return
        if quiet:
            from cnnkit.cli.common import quiet_line

            typer.echo(quiet_line(result))
            return
        transfer = result.config.transfer or {}
        src = transfer.get("source", {})
        origin = src.get("source", "?") + (
            f" (weights {src['pretrained']})" if src.get("pretrained") else ""
        )
        lines = [f"run: {result.run_dir}", f"source: {origin}"]
        frozen = transfer.get("frozen", {})
        if frozen:
            lines.append(
                f"frozen: {len(frozen['frozen_layers'])} of {frozen['weighted_layers']} weighted layers"
                + (" (all but the classifier)" if frozen["choice"] == "all" else "")
                + f", {frozen['frozen_parameters']:,} parameters; trainable {frozen['trainable_parameters']:,}"
            )
        lines.append(
            f"training examples: {transfer.get('train_size', '?')}, lr {result.config.lr:g}"
        )
        from cnnkit.cli.common import result_lines

        typer.echo("\n".join([*lines, *result_lines(result)]))
