"""``cnnkit.train``: train a model on a dataset, optionally into a run directory.

    result = cnnkit.train("resnet20", "cifar10", epochs=30, out="runs/r20")
    result = cnnkit.train(data="digits", preset="fast", limit=500)      # no files written
    result = cnnkit.train(out="runs/r20", resume=True)                    # continue a killed run

What one epoch does (see docs/training.md):

1. shuffle the training split with a generator seeded from (seed, "shuffle", epoch) and
   slice it into batches (``cnnkit.data.loader.batches``; under DDP each process takes
   its shard of every batch);
2. normalize each batch on the device and augment it there as one batched operation
   (generator seeded from (seed, "augment", epoch, rank));
3. forward under bf16 autocast where that is fast, label-smoothed cross-entropy, backward,
   gradient clipping, a NaN/inf guard, and the optimizer step with the learning rate the
   schedule gives for this step;
4. evaluate the validation split, append one record to metrics.jsonl and write the
   checkpoint (atomically), then stop early if validation accuracy has not improved for
   ``early_stopping`` epochs.

The torch global RNG (dropout) is seeded from (seed, "torch", epoch, rank) at each epoch
start, and the initial weights from ``seed``; so a seeded CPU run repeats exactly, and
a resumed run ends like an uninterrupted one without storing any generator state.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnkit.data.tensordata import DatasetInfo, Splits
from cnnkit.errors import CnnkitError, RunError
from cnnkit.train import distributed
from cnnkit.train.config import TrainConfig
from cnnkit.train.evaluate import EvalResult, evaluate
from cnnkit.train.loop import EpochRunner
from cnnkit.train.prepare import build_model, fit_batch_to_data, head_note, load_splits, make_optimizer, model_name

__all__ = ["TrainResult", "train"]


@dataclass
class TrainResult:
    """What a run produced. ``test`` is the plain test evaluation; ``test_tta`` the one with
    flip TTA when ``tta_flip`` is set. ``model`` is the trained plain model (eval mode)."""

    run_dir: Path | None
    config: TrainConfig
    info: DatasetInfo
    model: nn.Module
    metrics: list[dict[str, Any]] = field(default_factory=list)
    test: EvalResult | None = None
    test_tta: EvalResult | None = None
    stopped_early: bool = False
    seconds: float = 0.0  # wall time of the whole call, data loading and evaluation included
    device: str = ""
    notes: list[str] = field(default_factory=list)  # what was adapted or read (batch size, data, head)
    warning: str | None = None  # "warning: test accuracy ... no better than chance ...; <likely cause>"

    @property
    def test_accuracy(self) -> float | None:
        best = self.test_tta or self.test
        return best.accuracy if best is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir) if self.run_dir is not None else None,
            "test_accuracy": self.test_accuracy,
            "test": self.test.to_dict() if self.test else None,
            "test_tta": self.test_tta.to_dict() if self.test_tta else None,
            "classes": list(self.info.classes),
            "epochs_run": len(self.metrics),
            "stopped_early": self.stopped_early,
            "notes": self.notes,
            "warning": self.warning,
            "seconds": self.seconds,
            "device": self.device,
            "metrics": self.metrics,
            "config": self.config.to_dict(),
        }


def train(
    model: str | nn.Module | None = None,
    data: str | Splits | None = None,
    *,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
    command: str | None = None,
    builder_kwargs: dict[str, Any] | None = None,
    preset: str | None = "fast",
    more: int | None = None,
    more_lr: float | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train ``model`` on ``data`` and return the result (and write ``out`` if given).

    Args:
        model: a zoo name, spec text, or a model made by cnnkit.build (default: the
            config's model, i.e. :data:`cnnkit.train.config.DEFAULT_MODEL`).
        data: a dataset name (default fashion-mnist) or already-loaded :class:`Splits`.
        config: the full configuration; default: ``TrainConfig.from_preset(preset)``.
        out: the run directory to write (None: write nothing, just return the result).
        resume: continue the run in ``out`` from its last checkpoint, with its saved config.
        more: with ``resume``, train a *finished* run for this many more epochs, as a new
            learning-rate cycle (:mod:`cnnkit.train.cycles`); ``more_lr`` is that cycle's
            peak (default: a tenth of the run's).
        progress: True for a rich bar, False for plain lines, None: a bar on a terminal.
        quiet: print nothing.
        command: the command line, recorded in report.md (a resumed run keeps the one it
            started with; a continuation adds its own).
        builder_kwargs: for a model passed as an object, the cnnkit.build arguments it was
            made with beyond num_classes (e.g. in_channels), so the run can rebuild it.
        preset: the preset the default config starts from ("fast" or "best").
        **overrides: any TrainConfig field, e.g. ``epochs=3, lr=0.05``.

    Raises:
        RunError: a non-finite loss (the last epoch checkpoint stays), nothing to resume.
        DataError / ModelError / CnnkitError: bad data, model or options.
    """
    started = time.perf_counter()
    config_given = config is not None
    tta_asked = bool(overrides.get("tta_flip"))  # asked for, not just the preset's default
    if more is not None and not resume:
        raise RunError("more= continues a finished run: give it with resume=True (cnnkit train --resume RUN --more N)")
    config = _resolve_config(model, data, config, out, resume, preset, overrides, command)
    if more is not None:
        config = _continued(config, out, more, more_lr, command)  # type: ignore[arg-type]
    elif resume:
        _check_unfinished(out)  # type: ignore[arg-type]
    if resume and config.transfer and not isinstance(model, nn.Module):
        from cnnkit.train.transfer import rebuild_start  # the checkpoint loads over the fine-tuning start

        ready = rebuild_start(config)
        model, data, builder_kwargs = ready.model, ready.splits, ready.source.builder_kwargs
    created_group = False
    try:
        from cnnkit.train.device import choose_device

        created_group = distributed.setup(choose_device(config.device))
        # None: the batch is the run's own (resume) or a given config's (finetune); never adapted
        chosen = None if resume or config_given else "batch_size" in overrides
        return _train(config, model, data, out, resume, progress, quiet, builder_kwargs, started, tta_asked,
                      continued=more is not None, batch_chosen=chosen,
                      rewrite_config=more is not None or (resume and isinstance(data, str)))  # fmt: skip
    finally:
        if created_group:
            distributed.teardown()


def _resolve_config(
    model: str | nn.Module | None,
    data: str | Splits | None,
    config: TrainConfig | None,
    out: str | Path | None,
    resume: bool,
    preset: str | None,
    overrides: dict[str, Any],
    command: str | None,
) -> TrainConfig:
    """The run's configuration: a resumed run's own, else ``config`` or the preset with the
    overrides laid over it. A new run stores what it needs to be rebuilt anywhere: the spec
    text (not the name of the file it was read from), data folders as absolute paths, and
    the command that started it."""
    if resume:
        if out is None:
            raise RunError("resume needs the run directory: pass out=runs/NAME (or --resume runs/NAME)")
        if overrides or config is not None:
            raise RunError(
                "a resumed run keeps the settings it started with; drop the other options, "
                "or start a new run with --out"
            )
        from cnnkit.train.run import RunDir
        from cnnkit.train.run_header import config_kind, not_resumable_error

        run = RunDir(out)
        if not run.path.is_dir():
            raise RunError(f"nothing to resume: no run directory at {run.path}; give the folder `cnnkit train` wrote, e.g. runs/NAME")
        if not run.file("config.json").is_file():
            raise RunError(f"nothing to resume in {run.path}: it has no config.json; start a new run with --out")
        saved = run.read_config()
        kind = config_kind(saved)
        if kind is not None:
            raise not_resumable_error(run.path, kind)
        return _relocated(TrainConfig.from_dict(saved), data, run.path)
    base = config if config is not None else TrainConfig.from_preset(preset)
    if isinstance(model, str):
        overrides["model"] = _architecture_text(model)
    elif isinstance(model, nn.Module):
        overrides["model"] = model_name(model)
    if isinstance(data, str):
        from cnnkit.data.reference import absolute_reference

        overrides["data"] = absolute_reference(data)
    elif isinstance(data, Splits) and config is None:  # a given config (finetune) names its data
        overrides["data"] = data.info.name
    if command is not None and base.command is None:
        overrides["command"] = command
    return base.replace(**overrides) if overrides else base


def _relocated(config: TrainConfig, data: str | Splits | None, run: Path) -> TrainConfig:
    """A resumed run's config, with its folder data at the new place ``data`` names (the
    same data, moved: ``cnnkit train --resume RUN --data folder:NEW``); without ``data``, a
    DataError when the folder has moved, naming that command."""
    from cnnkit.data.reference import absolute_reference, check_reference, reference_path

    found = reference_path(config.data)
    if isinstance(data, str):
        if found is None:
            raise RunError(f"{run} trained on {config.data}, which is found by name; --data goes with --resume "
                           "only to point at folder data that has moved")  # fmt: skip
        return config.replace(data=absolute_reference(data))
    if data is None and found is not None:
        check_reference(config.data, run=run, fix=f"point at it with `cnnkit train --resume {run} --data "
                        f"{found[0]}NEW_PATH` (data= in Python)")  # fmt: skip
    return config


def _architecture_text(model: str) -> str:
    """A zoo name or spec text as given; a spec file's text (the run must not depend on the
    file: it may be edited or deleted after training)."""
    from cnnkit.nn.build import looks_like_spec, read_spec_text

    return read_spec_text(model) if looks_like_spec(model) else model


def _epochs_done(run_dir: str | Path) -> int | None:
    """Epochs finished according to the run's checkpoint, None when it has none."""
    from cnnkit.train.checkpoint import read_checkpoint_state

    state = read_checkpoint_state(run_dir)
    return None if state is None else int(state["epoch"])


def _check_unfinished(out: str | Path) -> None:
    """RunError for a plain resume of a run that has finished: there is nothing to continue,
    and doing it again would rewrite its report. Say how to train it for more epochs."""
    from cnnkit.train.run import RunDir

    run = RunDir(out)
    if run.finished:
        done = _epochs_done(run.path)
        epochs = f" after {done} epochs" if done is not None else ""
        raise RunError(
            f"{run.path} has finished{epochs}; to train it for more epochs: "
            f"cnnkit train --resume {run.path} --more N (more=N in Python)"
        )


def _continued(config: TrainConfig, out: str | Path, more: int, lr: float | None, command: str | None) -> TrainConfig:
    """``config`` of the finished run in ``out``, extended by ``more`` epochs in a new cycle."""
    from cnnkit.numbers import check_range
    from cnnkit.train.cycles import MORE_LR_FACTOR
    from cnnkit.train.run import RunDir

    check_range("more", more, 1, integer=True)
    if lr is not None:
        check_range("more_lr", lr, 0.0, strict=True)
    run = RunDir(out)
    done = _epochs_done(run.path)
    if not run.finished or done is None:
        raise RunError(
            f"{run.path} has not finished; first finish it with `cnnkit train --resume {run.path}` "
            "(more= / --more continues a finished run)"
        )
    peak = lr if lr is not None else round(config.lr * MORE_LR_FACTOR, 12)
    record = {"after_epoch": done, "epochs": more, "lr": peak, "command": command}
    return config.replace(epochs=done + more, more=[*config.more, record])


def _train(
    config: TrainConfig,
    model_arg: str | nn.Module | None,
    data: str | Splits | None,
    out: str | Path | None,
    resume: bool,
    progress: bool | None,
    quiet: bool,
    builder_kwargs: dict[str, Any] | None,
    started: float,
    tta_asked: bool = False,
    *,
    continued: bool = False,
    batch_chosen: bool | None = None,
    rewrite_config: bool = False,
) -> TrainResult:
    from cnnkit.train.device import resolve_runtime

    rank, world = distributed.rank(), distributed.world_size()
    main = rank == 0
    if config.batch_size % world:
        raise CnnkitError(
            f"--batch-size {config.batch_size} does not split evenly over {world} processes; "
            f"use a multiple of {world}"
        )

    model_source = model_arg if isinstance(model_arg, nn.Module) else config.model
    splits = data if isinstance(data, Splits) else load_splits(config, model_source)
    if config.flips is not None and config.flips != splits.info.flip_ok:
        splits = dataclasses.replace(splits, info=dataclasses.replace(splits.info, flip_ok=config.flips))
    info = splits.info
    notes = list(splits.notes)  # said before training (as notes) and kept in report.md
    if batch_chosen is False:  # the preset's batch, on a new run (finetune has its own rule)
        config, fitted = fit_batch_to_data(config, len(splits.train), world)
        notes += [fitted] if fitted else []
    runtime = resolve_runtime(config.device, config.amp, config.channels_last, spatial_dims=len(info.input_shape) - 1)

    torch.manual_seed(config.seed)  # the initial weights
    if isinstance(model_arg, nn.Module):
        raw, kwargs = model_arg, dict(builder_kwargs or {})
    else:
        raw, kwargs = build_model(config, info)
        resized = head_note(config, info)
        notes += [resized] if resized else []

    run = None
    metadata = None
    if out is not None:
        from cnnkit.train.run import ModelMetadata, RunDir

        metadata = ModelMetadata.describe(raw, info, builder_kwargs=kwargs)
        metadata.verify(raw)  # a model the run could not rebuild fails now, not after training
        if main:
            run = RunDir.create(out, exist_ok=resume)
            run.hold()  # before anything is written: another process may be training it
            if not resume or rewrite_config:  # a continuation records its new cycle, a move its data
                run.write_config(config.to_dict())
        else:
            run = RunDir(out)

    raw.to(runtime.device)
    if runtime.channels_last:
        raw.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(raw, config)
    runner = EpochRunner(
        raw, optimizer, splits, config, runtime, rank=rank, world=world, progress=progress, quiet=quiet or not main
    )
    for line in notes:
        runner.progress.message(f"note: {line}")
    try:
        if resume and run is not None:
            runner.restore(run.path)
            if continued:
                runner.continue_finished()
        elif out is not None:
            distributed.barrier()  # rank 0 has made the folder
        runner.fit(run if main else None)
    except BaseException:
        runner.close()
        if run is not None:
            run.release()
        raise

    # The test evaluation (every process its shard; figures all-reduced).
    eval_model = runner.eval_model
    kw = dict(
        batch_size=config.eval_batch_size,
        device=runtime.device,
        amp_dtype=runtime.amp_dtype,
        channels_last=runtime.channels_last,
        shard=(rank, world),
    )
    test = evaluate(eval_model, splits.test, info, **kw) if len(splits.test) else None
    use_tta = config.tta_flip and info.flip_ok and info.kind == "image"
    note = _tta_note(config, info, tta_asked) if test is not None else None
    if note:
        runner.progress.message(f"note: {note}")
    test_tta = evaluate(eval_model, splits.test, info, tta_flip=True, **kw) if test and use_tta else None
    final = test_tta or test
    warning = None
    if final is not None:
        from cnnkit.train.report import chance_note

        runner.progress.message(f"test accuracy {final.accuracy:.2%} on {final.num_samples} samples" + (" (flip TTA)" if test_tta else ""))
        warning = chance_note(final.accuracy, info.num_classes, config.to_dict(), runner.metrics)
    runner.close()

    if run is not None and main and metadata is not None:
        from cnnkit.train.report import write_report

        run.save_model(raw, metadata)
        if test is not None:
            write_report(
                run,
                test=test,
                tta=test_tta,
                info=info,
                config=config.to_dict(),
                metrics=runner.metrics,
                model=raw,
                command=_report_command(config),
                device=runtime.describe(),
                split_sizes={"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
                notes=notes,
            )
    if run is not None:
        run.release()
    distributed.barrier()
    raw.eval()
    return TrainResult(
        run_dir=Path(out) if out is not None else None,
        config=config,
        info=info,
        model=raw,
        metrics=list(runner.metrics),
        test=test,
        test_tta=test_tta,
        stopped_early=runner.stopped_early,
        seconds=time.perf_counter() - started,
        device=runtime.describe(),
        notes=notes,
        warning=warning,
    )


def _report_command(config: TrainConfig) -> str | None:
    """The commands that made the run, for report.md: the one that started it, then each
    continuation's (a plain resume adds nothing: it finishes what the first one began)."""
    lines = [config.command] if config.command else []
    for more in config.more:
        if more.get("command"):
            plural = "" if more["epochs"] == 1 else "s"
            lines.append(f"# then {more['epochs']} more epoch{plural} (peak lr {more['lr']:g}):")
            lines.append(str(more["command"]))
    return "\n".join(lines) or None


def _tta_note(config: TrainConfig, info: DatasetInfo, asked: bool) -> str | None:
    """Why flip TTA is skipped, when it was on: it applies to images only, and only where a
    mirror image keeps the label (clothes yes, digits no). For signals and volumes the note
    shows only when TTA was asked for explicitly (the presets turn it on for every run)."""
    if not config.tta_flip:
        return None
    if info.kind != "image":
        return f"no flip TTA: it applies to images only, and {info.name} holds {info.kind}s" if asked else None
    if not info.flip_ok:
        return (f"no flip TTA: a mirror image may change a {info.name} label; "
                "pass --flips if it does not (flips=True in Python)")  # fmt: skip
    return None
