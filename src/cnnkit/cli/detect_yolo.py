"""``cnnkit detect train | eval | predict``: the YOLO-style detector with run directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli.options import DEVICE, JSON, NAME, QUIET, THREADS, run_out

__all__ = ["DATA_HELP", "register"]

DATA_HELP = "scenes (generated), yolo:PATH (YOLO-layout folder) or coco:PATH (COCO instances json)."


def _print_eval(result: dict[str, Any], header: str) -> None:
    def fmt(v: float | None) -> str:
        return "  n/a" if v is None else f"{v:.3f}"

    print(header)
    print(f"mAP@0.5       {fmt(result['map_50'])}")
    print(f"mAP@[.5:.95]  {fmt(result['map'])}")
    width = max(len(n) for n in result["per_class"])
    print(f"{'class':<{width}}  AP@0.5  AP@[.5:.95]  objects")
    for name, row in result["per_class"].items():
        print(f"{name:<{width}}  {fmt(row['ap_50']):>6}  {fmt(row['ap']):>11}  {row['targets']:>7}")


def register(group: typer.Typer) -> None:
    """Add ``train``, ``eval`` and ``predict`` to the ``cnnkit detect`` group."""

    @group.command("train")
    def train_command(
        model: str = typer.Argument("quicknet", metavar="MODEL_OR_SPEC",
                                    help="Backbone: a zoo name, spec text or spec file."),
        data: str = typer.Option("scenes", "--data", "-d", help=DATA_HELP),
        epochs: int = typer.Option(12, "--epochs", "-e", min=1, help="Passes over the training images."),
        batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Images per step."),
        lr: float = typer.Option(3e-3, "--lr", help="Peak one-cycle learning rate (AdamW)."),
        anchors: int = typer.Option(5, "--anchors", min=1, help="Anchor boxes per cell, by k-means on the training boxes."),
        grid: int = typer.Option(0, "--grid", min=0, help="S x S grid; 0 keeps the trunk's own grid (12x12 for quicknet on 96x96 scenes)."),
        head_width: int = typer.Option(64, "--head-width", min=1, help="Channels of the head's 3x3 convolution."),
        ema: float = typer.Option(0.1, "--ema",
                                  help="Weight average horizon as a share of all steps, 0..1 (0: off)."),
        scenes: int = typer.Option(3000, "--scenes", min=1, help="Generated training scenes (--data scenes)."),
        val_scenes: int = typer.Option(200, "--val-scenes", min=1, help="Generated validation scenes."),
        test_scenes: int = typer.Option(500, "--test-scenes", min=1, help="Generated test scenes."),
        canvas: int = typer.Option(96, "--canvas", min=16, help="Side of a generated scene in pixels."),
        image_size: int | None = typer.Option(None, "--image-size", min=8,
                                                 help="Side to letterbox yolo:/coco: images to [default: their median longer side, at most 128]."),
        val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of an unsplit yolo:/coco: set for val."),
        test_fraction: float = typer.Option(0.1, "--test-fraction", help="Share of an unsplit yolo:/coco: set for test."),
        seed: int = typer.Option(0, "--seed", help="Seed for scenes, splits, anchors, initialization and batches."),
        device: str = DEVICE,
        threads: Optional[int] = THREADS,
        out: Optional[Path] = run_out("DATA-detect"),
        name: Optional[str] = NAME,
        quiet: bool = QUIET,
        as_json: bool = JSON,
    ) -> None:
        """Train a YOLO-style detector and write a run directory.

        Anchors come from k-means (1 - IoU) on the training boxes. One line per epoch shows
        the loss parts and the validation mAP@0.5; at the end the test split is evaluated
        and RUN/report.md, pr_curve.png and predictions.png are written.

        \b
        Examples:
          cnnkit detect train                                 # runs/scenes-detect-1
          cnnkit detect train --data scenes --scenes 3000 --epochs 12 --out runs/scenes
          cnnkit detect train "INPUT(1x96x96) -> [CONV(32, k=3, p=1) -> BN -> RELU -> POOL(2)]*4 -> FC(10)" --out runs/tiny
          cnnkit detect train --data yolo:./my_boxes --image-size 128 --epochs 30 --out runs/mine
        \b
        Output:
          epoch 2/2: loss 5.5208 (box 0.905, obj 0.820, noobj 0.533, cls 3.263) val mAP@0.5 0.505  20.5s
        """
        import shlex
        import sys

        from cnnkit.cli.common import print_json, run_directory
        from cnnkit.detect.data import DataOptions
        from cnnkit.detect.run_train import TrainSettings, train_run

        options = DataOptions(scenes=scenes, val_scenes=val_scenes, test_scenes=test_scenes, canvas=canvas,
                              seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                              image_size=image_size)
        settings = TrainSettings(backbone=model, data=data, data_options=options, epochs=epochs,
                                 batch_size=batch_size, lr=lr, anchors=anchors, grid=grid or None,
                                 head_width=head_width, ema_horizon=ema, seed=seed, threads=threads or 0,
                                 device=device, command=shlex.join(["cnnkit", *sys.argv[1:]]))
        target = run_directory(out, name, stem=f"{data}-detect")
        silent = quiet or as_json
        result = train_run(target, settings, log=lambda line: None if silent else print(line, flush=True))
        if as_json:
            print_json({"run": str(target), **result})
        elif quiet:
            print(f"{target}: test mAP@0.5 {result['map_50']:.3f}, mAP@[.5:.95] {result['map']:.3f}")

    @group.command("eval")
    def eval_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory from `cnnkit detect train`."),
        data: str | None = typer.Option(None, "--data", "-d",
                                           help=DATA_HELP + " [default: the run's own data, test split]"),
        split: str = typer.Option("test", "--split", "-s", help="test, val or train."),
        as_json: bool = typer.Option(False, "--json", help="Print the full result (per-class AP, PR curves) as JSON."),
        device: str = DEVICE,
        threads: Optional[int] = THREADS,
    ) -> None:
        """Evaluate a detection run: mAP@0.5, COCO mAP@[.5:.95] and per-class AP.

        Predictions are kept down to confidence 0.01 (the whole precision-recall curve);
        mAP comes from torchmetrics (faster_coco_eval backend). Generated scenes are made
        again from the run's config (same seed, same scenes).

        \b
        Examples:
          cnnkit detect eval runs/scenes
          cnnkit detect eval runs/scenes --split val --json
          cnnkit detect eval runs/mine --data coco:./other/instances.json
        \b
        Output:
          runs/scenes: scenes test split, 500 images
          mAP@0.5       0.483
          mAP@[.5:.95]  0.290
        """
        from cnnkit.cli.common import print_json
        from cnnkit.detect.data import DataOptions, resolve_data
        from cnnkit.detect.run import load_detector
        from cnnkit.detect.run_train import evaluate
        from cnnkit.errors import CnnkitError
        from cnnkit.train.device import check_threads, choose_device, torch_threads

        check_threads(threads)
        from cnnkit.names import pick_choice

        split = pick_choice(split, ("test", "val", "train"), what="--split")
        loaded = load_detector(run, device=choose_device(device))
        source = data or loaded.config.get("data")
        if not source:
            raise CnnkitError(f"{run}/config.json does not name the training data; give --data")
        if not data:  # the run's own data: say so plainly when its folder has moved
            from cnnkit.data.reference import check_reference

            check_reference(source, run=run)
        options = DataOptions.from_dict(loaded.config.get("data_options", {}))
        if options.image_size is None and not source.startswith("scenes"):
            options = DataOptions.from_dict({**options.to_dict(), "image_size": loaded.metadata.image_size[0]})
        with torch_threads(threads):
            part = getattr(resolve_data(source, options), split)
            result = evaluate(loaded.detector, part, loaded.classes)
        result = {"run": str(run), "data": source, "split": split, **result}
        if as_json:
            print_json(result)
        else:
            _print_eval(result, f"{run}: {source} {split} split, {result['images']} images")

    @group.command("predict")
    def predict_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory from `cnnkit detect train`."),
        images: list[Path] = typer.Argument(..., metavar="IMAGE...", help="PNG, JPEG or other image files."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the pictures (one PNG per image)."),
        conf: float = typer.Option(0.25, "--conf", help="Keep detections with at least this score (0..1)."),
        per_class_nms: bool = typer.Option(False, "--per-class-nms",
                                           help="NMS within each class only: one object may then show under two names."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list of {file, output, detections | error}."),
        device: str = DEVICE,
    ) -> None:
        """Detect objects in image files and draw labelled boxes with scores.

        One NMS runs over all classes (class-agnostic), so an object whose class is
        uncertain shows once, under its best class; --per-class-nms keeps one box per
        class instead (what mAP scoring uses).

        Images of another size are letterboxed to the run's image size (aspect kept, black
        borders) and the boxes are mapped back to the file's own pixels. A missing or
        unreadable file gets a one-line error and the others are still processed. Exit
        status: 0 when every file worked, 1 when any failed, 2 when the run is unusable.

        \b
        Examples:
          cnnkit detect predict runs/scenes scene1.png scene2.png -o detections
          cnnkit detect predict runs/scenes photos/*.jpg -o out --conf 0.5 --json
        \b
        Output:
          scene1.png: 1 object -> detections/scene1.png
            Trouser 0.46 at (54, 7, 78, 61)
          nope.png: error: no such file
        """
        import sys

        from cnnkit.cli.common import print_json
        from cnnkit.detect.run import load_detector
        from cnnkit.detect.run_train import picture_paths, predict_files
        from cnnkit.numbers import check_range

        check_range("--conf", conf, 0, 1)
        from cnnkit.train.device import choose_device

        picture_paths(images, out)  # a bad -o fails before the run loads
        loaded = load_detector(run, device=choose_device(device))
        results = predict_files(loaded, images, out, conf=conf, class_agnostic=not per_class_nms)
        if as_json:
            print_json([r.to_dict() for r in results])
        else:
            for r in results:
                for line in r.lines():
                    print(line, file=sys.stdout if r.ok else sys.stderr)
        if not all(r.ok for r in results):
            raise typer.Exit(1)
