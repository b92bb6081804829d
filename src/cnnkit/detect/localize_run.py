"""Localizer run directories: train the lecture's localizer on one-object scenes and write a run.

``runs/NAME/`` (the layout every cnnkit run shares)::

    config.json        the settings, with "command": "detect localize"
    metrics.jsonl      one record per epoch (loss parts, seconds)
    model.safetensors  weights + JSON metadata under "cnnkit_localize" (localize_fit.save_localizer)
    metrics.json       the held-out figures (p_c and class accuracy, IoU, landmark error)
    predictions.png    test scenes, truth dashed, prediction in its class colour
    report.md          the figures in a table, the picture
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cnnkit.errors import ConfigError
from cnnkit.train.run import RunDir

__all__ = ["LocalizeSettings", "train_localizer_run"]


@dataclass(frozen=True)
class LocalizeSettings:
    """Everything ``cnnkit detect localize`` needs besides the run directory."""

    model: str = "quicknet"  # zoo name or spec whose .features is the trunk
    scenes: int = 3000  # training scenes (one object or none each)
    test_scenes: int = 300  # held-out scenes for the figures
    epochs: int = 6
    canvas: int = 64  # scene side in pixels, 32..256
    batch_size: int = 32
    lr: float = 3e-3  # peak one-cycle learning rate
    seed: int = 0  # scenes, initialization and batches
    device: str = "auto"  # auto (cuda, mps, cpu), or a device name
    threads: int = 0  # CPU threads for torch, 0: every core

    def check(self) -> None:
        """ConfigError naming the first setting out of range."""
        checks = [("scenes", self.scenes >= 1, "must be at least 1"),
                  ("test_scenes", self.test_scenes >= 1, "must be at least 1"),
                  ("epochs", self.epochs >= 1, "must be at least 1"),
                  ("canvas", 32 <= self.canvas <= 256, "must be 32..256 pixels"),
                  ("batch_size", self.batch_size >= 1, "must be at least 1"),
                  ("lr", 0 < self.lr <= 1, "must be in (0, 1]")]  # fmt: skip
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"{name} {rule}, got {getattr(self, name)}", parameter=name)


def train_localizer_run(
    out: str | Path, settings: LocalizeSettings, *, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train a localizer into the new run directory ``out``; returns the held-out figures of
    :func:`cnnkit.detect.localize_fit.evaluate` plus ``seconds`` and ``run``."""
    from cnnkit.atomic import save_figure, write_json, write_text
    from cnnkit.detect.localize import build_localizer
    from cnnkit.detect.localize_fit import LocalizeFitConfig, draw_grid, evaluate, fit, save_localizer
    from cnnkit.detect.scenes import make_scene_splits
    from cnnkit.train.device import check_threads, choose_device, torch_threads

    settings.check()
    check_threads(settings.threads)
    device = choose_device(settings.device)
    RunDir.check_free(out, resumable=False)  # before any work: an existing run fails now
    start = time.perf_counter()
    with torch_threads(settings.threads):
        splits = make_scene_splits(settings.scenes, 0, settings.test_scenes, seed=settings.seed,
                                   canvas=settings.canvas, one_object=True)  # fmt: skip
        train, test = splits.train, splits.test
        net = build_localizer(settings.model, num_classes=train.num_classes, num_landmarks=len(train.landmark_names),
                              image_size=train.image_size, in_channels=int(train.images.shape[1]),
                              generator=torch.Generator().manual_seed(settings.seed))  # fmt: skip
        cfg = LocalizeFitConfig(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed)
        run = RunDir.create(out, resumable=False)
        config = {"command": "detect localize", **asdict(settings), "flip": cfg.flip, "shift": cfg.shift,
                  "loss_weights": vars(cfg.loss), "classes": list(train.classes),
                  "landmark_names": list(train.landmark_names)}  # fmt: skip
        run.write_config(config)

        def record(rec: dict[str, float]) -> None:
            run.append_metrics({k: (int(v) if k == "epoch" else v) for k, v in rec.items()})
            log(f"epoch {int(rec['epoch'])}/{settings.epochs}  loss {rec['loss']:.3f}  box {rec['box']:.4f}  "
                f"classes {rec['classes']:.3f}  landmarks {rec['landmarks']:.4f}  ({rec['seconds']:.1f} s)")

        fit(net, train, cfg, device=device, log=record)
        net.to("cpu")
        figures = evaluate(net, test)
        seconds = time.perf_counter() - start
        save_figure(run.file("predictions.png"), draw_grid(net, test), dpi=130)
    save_localizer(net, str(run.file("model.safetensors")), architecture=settings.model, image_size=train.image_size,
                   classes=train.classes, landmark_names=train.landmark_names)  # fmt: skip
    write_json(run.file("metrics.json"), {**figures, "seconds": seconds})
    write_text(run.file("report.md"), _report(settings, figures, seconds))
    return {**figures, "seconds": seconds, "run": str(run.path)}


def _report(settings: LocalizeSettings, figures: dict[str, float], seconds: float) -> str:
    rows = [("p_c accuracy (all scenes)", f"{figures['p_object_accuracy']:.3f}"),
            ("class accuracy (scenes with an object)", f"{figures['class_accuracy']:.3f}"),
            ("mean IoU of boxes", f"{figures['mean_iou']:.3f}"),
            ("boxes with IoU >= 0.5", f"{figures['iou_50']:.3f}"),
            ("landmark error (mean Euclidean, px)", f"{figures['landmark_error_px']:.2f}")]  # fmt: skip
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (f"# Localization run\n\nModel `{settings.model}` on {settings.scenes} one-object scenes of "
            f"{settings.canvas}x{settings.canvas} px, {settings.epochs} epoch(s), seed {settings.seed} "
            f"({seconds:.0f} s). Held out: {int(figures['images'])} scenes, {int(figures['objects'])} with an "
            f"object.\n\n| figure | value |\n| --- | --- |\n{table}\n\n![test scenes](predictions.png)\n\n"
            "Truth is dashed white (crosses: landmarks); the prediction is drawn in its class colour with p_c "
            "when p_c >= 0.5.\n")
