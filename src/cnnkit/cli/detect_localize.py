"""``cnnkit detect localize``: classification with localization and landmarks on one-object scenes."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_PICTURE = Path("localize.png")

def register(group: typer.Typer) -> None:
    """Add ``localize`` to the ``cnnkit detect`` group."""

    @group.command("localize")
    def localize(
        model: str = typer.Argument("quicknet", metavar="MODEL_OR_SPEC",
                                    help="Zoo name or spec whose .features is the trunk."),
        scenes: int = typer.Option(3000, "--scenes", help="Training scenes (one object or none each)."),
        test_scenes: int = typer.Option(300, "--test-scenes", help="Held-out scenes for the figures."),
        epochs: int = typer.Option(6, "--epochs", help="Training epochs."),
        canvas: int = typer.Option(64, "--canvas", help="Scene side in pixels (32..256)."),
        batch_size: int = typer.Option(32, "--batch-size", help="Scenes per step."),
        lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (one-cycle)."),
        seed: int = typer.Option(0, "--seed", help="Seed for scenes, initialization and batches."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write a run directory here."),
        picture: Path = typer.Option(DEFAULT_PICTURE, "--picture",
                                     help="PNG grid of test scenes when there is no --out."),
    ) -> None:
        """Train the lecture's localizer y = [p_c, b_x, b_y, b_h, b_w, c_1..c_n] plus landmarks
        (centre and four corners) on one-object scenes, then evaluate it on held-out scenes:
        p_c accuracy, class accuracy, mean IoU and landmark error in pixels.

        \b
        Examples:
          cnnkit detect localize                              # quicknet, ~1-2 min on a 2-core CPU
          cnnkit detect localize --scenes 500 --epochs 2 --picture quick.png
          cnnkit detect localize quicknet_wide --epochs 10 --out runs/localize-wide
          cnnkit detect localize "INPUT(1x64x64) -> [CONV(32, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(10)"

        \b
        With --out DIR: config.json, model.safetensors (JSON metadata under "cnnkit"),
        metrics.jsonl (per epoch), metrics.json (held-out), predictions.png, report.md.
        """
        from cnnkit.errors import CnnkitError, RunError

        checks = [(scenes >= 1, f"--scenes must be at least 1, got {scenes}"),
                  (test_scenes >= 1, f"--test-scenes must be at least 1, got {test_scenes}"),
                  (epochs >= 1, f"--epochs must be at least 1, got {epochs}"),
                  (32 <= canvas <= 256, f"--canvas must be 32..256 pixels, got {canvas}"),
                  (batch_size >= 1, f"--batch-size must be at least 1, got {batch_size}"),
                  (0 < lr <= 1, f"--lr must be in (0, 1], got {lr}")]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise CnnkitError(message + "; see `cnnkit detect localize --help`")
        if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise RunError(f"{out} already exists and is not an empty folder; choose another --out or remove it")
        _run(model, scenes=scenes, test_scenes=test_scenes, epochs=epochs, canvas=canvas, batch_size=batch_size,
             lr=lr, seed=seed, out=out, picture=picture)


def _run(model_name: str, *, scenes: int, test_scenes: int, epochs: int, canvas: int, batch_size: int, lr: float,
         seed: int, out: Path | None, picture: Path) -> None:
    import json
    import time

    import torch

    from cnnkit.atomic import save_figure, write_json, write_text
    from cnnkit.cli.common import console
    from cnnkit.data.scenes import make_scene_splits
    from cnnkit.detect.localize import build_localizer
    from cnnkit.detect.localize_fit import (
        LocalizeFitConfig,
        draw_grid,
        evaluate,
        fit,
        save_localizer,
    )

    start = time.perf_counter()
    splits = make_scene_splits(scenes, 0, test_scenes, seed=seed, canvas=canvas, one_object=True)
    train, test = splits.train, splits.test
    net = build_localizer(model_name, num_classes=train.num_classes, num_landmarks=len(train.landmark_names),
                          image_size=train.image_size, in_channels=int(train.images.shape[1]),
                          generator=torch.Generator().manual_seed(seed))
    cfg = LocalizeFitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    config = {"command": "detect localize", "model": model_name, "scenes": scenes, "test_scenes": test_scenes,
              "canvas": canvas, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "flip": cfg.flip, "shift": cfg.shift, "loss_weights": vars(cfg.loss),
              "classes": list(train.classes), "landmark_names": list(train.landmark_names)}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", config)
    lines: list[str] = []

    def log(record: dict[str, float]) -> None:
        console.print(f"epoch {int(record['epoch'])}/{epochs}  loss {record['loss']:.3f}  box {record['box']:.4f}  "
                      f"classes {record['classes']:.3f}  landmarks {record['landmarks']:.4f}  "
                      f"({record['seconds']:.1f} s)", highlight=False)
        lines.append(json.dumps(record))
        if out is not None:
            write_text(out / "metrics.jsonl", "\n".join(lines) + "\n")

    fit(net, train, cfg, log=log)
    figures = evaluate(net, test)
    seconds = time.perf_counter() - start
    console.print(
        f"held-out {int(figures['images'])} scenes ({int(figures['objects'])} with an object): "
        f"p_c accuracy {figures['p_object_accuracy']:.3f}, class accuracy {figures['class_accuracy']:.3f}, "
        f"mean IoU {figures['mean_iou']:.3f} (IoU >= 0.5: {figures['iou_50']:.3f}), "
        f"landmark error {figures['landmark_error_px']:.2f} px  [{seconds:.0f} s]", highlight=False)
    grid = draw_grid(net, test)
    target = picture if out is None else out / "predictions.png"
    save_figure(target, grid, dpi=130)
    console.print(f"picture: {target}", highlight=False)
    if out is None:
        return
    save_localizer(net, str(out / "model.safetensors"), architecture=model_name, image_size=train.image_size,
                   classes=train.classes, landmark_names=train.landmark_names)
    write_json(out / "metrics.json", {**figures, "seconds": seconds})
    write_text(out / "report.md", _report(config, figures, seconds))
    console.print(f"run directory: {out}", highlight=False)


def _report(config: dict[str, object], figures: dict[str, float], seconds: float) -> str:
    rows = [("p_c accuracy (all scenes)", f"{figures['p_object_accuracy']:.3f}"),
            ("class accuracy (scenes with an object)", f"{figures['class_accuracy']:.3f}"),
            ("mean IoU of boxes", f"{figures['mean_iou']:.3f}"),
            ("boxes with IoU >= 0.5", f"{figures['iou_50']:.3f}"),
            ("landmark error (mean Euclidean, px)", f"{figures['landmark_error_px']:.2f}")]  # fmt: skip
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (f"# Localization run\n\nModel `{config['model']}` on {config['scenes']} one-object scenes of "
            f"{config['canvas']}x{config['canvas']} px, {config['epochs']} epoch(s), seed {config['seed']} "
            f"({seconds:.0f} s). Held out: {int(figures['images'])} scenes, {int(figures['objects'])} with an "
            f"object.\n\n| figure | value |\n| --- | --- |\n{table}\n\n![test scenes](predictions.png)\n\n"
            "Truth is dashed white (crosses: landmarks); the prediction is drawn in its class colour with p_c "
            "when p_c >= 0.5.\n")
