"""``cnnkit detect localize``: classification with localization and landmarks on one-object scenes.

Thin: options -> :class:`cnnkit.detect.localize_run.LocalizeSettings` -> ``train_localizer_run``
-> the figures printed (or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnkit.cli.options import DEVICE, JSON, NAME, QUIET, THREADS, run_out

__all__ = ["register"]


def register(group: typer.Typer) -> None:
    """Add ``localize`` to the ``cnnkit detect`` group."""

    @group.command("localize")
    def localize(
        model: str = typer.Argument("quicknet", metavar="MODEL_OR_SPEC",
                                    help="Zoo name or spec whose .features is the trunk."),
        scenes: int = typer.Option(3000, "--scenes", help="Training scenes (one object or none each)."),
        test_scenes: int = typer.Option(300, "--test-scenes", help="Held-out scenes for the figures."),
        epochs: int = typer.Option(6, "--epochs", "-e", help="Training epochs."),
        canvas: int = typer.Option(64, "--canvas", help="Scene side in pixels (32..256)."),
        batch_size: int = typer.Option(32, "--batch-size", "-b", help="Scenes per step."),
        lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (one-cycle)."),
        seed: int = typer.Option(0, "--seed", help="Seed for scenes, initialization and batches."),
        device: str = DEVICE,
        threads: Optional[int] = THREADS,
        out: Optional[Path] = run_out("localize"),
        name: Optional[str] = NAME,
        quiet: bool = QUIET,
        as_json: bool = JSON,
    ) -> None:
        """Train the lecture's localizer y = [p_c, b_x, b_y, b_h, b_w, c_1..c_n] plus landmarks
        (centre and four corners) on one-object scenes, then evaluate it on held-out scenes:
        p_c accuracy, class accuracy, mean IoU and landmark error in pixels.

        \b
        Examples:
          cnnkit detect localize                              # quicknet, ~1-2 min on a 2-core CPU
          cnnkit detect localize --scenes 500 --epochs 2 --name quick
          cnnkit detect localize quicknet_wide --epochs 10 --out runs/localize-wide
          cnnkit detect localize "INPUT(1x64x64) -> [CONV(32, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(10)"

        \b
        The run directory (default runs/localize-N): config.json, metrics.jsonl (per epoch),
        model.safetensors (JSON metadata under "cnnkit_localize"), metrics.json (held-out),
        predictions.png, report.md.
        """
        from cnnkit.cli.common import console, print_json, run_directory
        from cnnkit.detect.localize_run import LocalizeSettings, train_localizer_run

        settings = LocalizeSettings(model=model, scenes=scenes, test_scenes=test_scenes, epochs=epochs, canvas=canvas,
                                    batch_size=batch_size, lr=lr, seed=seed, device=device, threads=threads or 0)
        settings.check()  # before the run directory is chosen: bad numbers leave nothing behind
        target = run_directory(out, name, stem="localize")
        quiet_log = quiet or as_json

        def log(line: str) -> None:
            if not quiet_log:
                console.print(line, highlight=False)

        figures = train_localizer_run(target, settings, log=log)
        if as_json:
            print_json(figures)
            return
        console.print(
            f"held-out {int(figures['images'])} scenes ({int(figures['objects'])} with an object): "
            f"p_c accuracy {figures['p_object_accuracy']:.3f}, class accuracy {figures['class_accuracy']:.3f}, "
            f"mean IoU {figures['mean_iou']:.3f} (IoU >= 0.5: {figures['iou_50']:.3f}), "
            f"landmark error {figures['landmark_error_px']:.2f} px  [{figures['seconds']:.0f} s]", highlight=False)
        console.print(f"run directory: {target}", highlight=False)
