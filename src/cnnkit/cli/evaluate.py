"""``cnnkit eval`` and ``cnnkit predict``: use a trained run directory.

Thin: load the run, call :func:`cnnkit.train.predict.evaluate_run` or
:func:`cnnkit.train.predict.predict`, print the result (rich on a terminal, plain text
when piped, JSON with --json).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli.options import DEVICE

__all__ = ["PREDICT_FORMATS", "register"]


PREDICT_FORMATS = ("text", "json", "csv")


def _plot_name(data: str, split: str) -> str:
    """'eval-fashion-mnist-test.png'; folder:PATH becomes 'folder-<last part>'."""
    if data.startswith("folder:"):
        data = "folder-" + Path(data[len("folder:") :]).name
    return f"eval-{re.sub(r'[^A-Za-z0-9_.-]+', '-', data)}-{split}.png"


def _finite(value: float) -> float | None:
    """NaN (a class with no samples in the split) -> None, which JSON can hold."""
    return None if math.isnan(value) else float(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _eval_dict(ev: Any, plot: Path | None) -> dict[str, Any]:
    result = ev.result
    counts = result.confusion.cpu().long()
    return {
        "run": str(ev.run.path),
        "data": ev.data,
        "split": ev.split,
        "num_samples": int(result.num_samples),
        "accuracy": float(result.accuracy),
        "loss": float(result.loss),
        "per_class": [
            {"class": name, "samples": int(counts[i].sum()), "accuracy": _finite(result.per_class_accuracy[i])}
            for i, name in enumerate(ev.info.classes)
        ],
        "confusion": counts.tolist(),
        "classes": list(ev.info.classes),
        "seconds": float(result.seconds),
        "plot": str(plot) if plot else None,
    }


def _print_eval(data: dict[str, Any]) -> None:
    from rich.table import Table

    from cnnkit.cli.common import console, plain_output

    print(f"{data['run']} on {data['data']} ({data['split']} split, {data['num_samples']:,} samples)")
    print(f"accuracy {data['accuracy'] * 100:.2f}%   loss {data['loss']:.4f}   {data['seconds']:.1f} s")
    rows = data["per_class"]
    width = max(5, *(len(r["class"]) for r in rows))
    if plain_output():
        print(f"\n{'class':<{width}}  {'samples':>7}  {'accuracy':>8}")
        for r in rows:
            print(f"{r['class']:<{width}}  {r['samples']:>7,}  {_pct(r['accuracy']):>8}")
    else:
        table = Table(title="per-class accuracy")
        for column, justify in (("class", "left"), ("samples", "right"), ("accuracy", "right")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(r["class"], f"{r['samples']:,}", _pct(r["accuracy"]))
        console.print(table)
    # The matrix with class indices as headers keeps it narrow; the legend names them.
    matrix = data["confusion"]
    cell = max(4, len(f"{max(max(r) for r in matrix):,}") + 1)
    print("\nconfusion matrix (rows = true class, columns = predicted class):")
    print(" " * 4 + "".join(f"{j:>{cell}}" for j in range(len(matrix))))
    for i, row in enumerate(matrix):
        print(f"{i:>3} " + "".join(f"{v:>{cell},}" for v in row) + f"   {data['classes'][i]}")
    if data["plot"]:
        print(f"\nconfusion plot: {data['plot']}")


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory written by `cnnkit train`, e.g. runs/fmnist."),
        data: Optional[str] = typer.Option(
            None, "--data", "-d", help="Dataset to evaluate on [default: the one the run trained on]."
        ),
        split: str = typer.Option("test", "--split", "-s", help="test, val (the run's validation carve-out) or train."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help="Samples per forward pass."),
        device: str = DEVICE,
        tta: Optional[bool] = typer.Option(
            None, "--tta/--no-tta", help="Average with horizontally flipped inputs [default: as the run did]."
        ),
        amp: Optional[str] = typer.Option(
            None, "--amp", help="bf16 autocast: auto, bf16 or off [default: as the run trained]."
        ),
        plot: Optional[Path] = typer.Option(
            None, "--plot", help="Where to write the confusion-matrix PNG, a .png file [default: RUN/eval-DATA-SPLIT.png]."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON for programs."),
        skip_bad: Optional[bool] = typer.Option(
            None, "--skip-bad", help="folder: data: leave unreadable image files out (a note names them) [default: as the run trained]."
        ),
    ) -> None:
        """Evaluate a trained run: accuracy, per-class accuracy and the confusion matrix.

        The data is converted to the run's input shape and normalized as in training; the
        val split is the same seeded carve-out the run validated on. The confusion matrix
        is printed (rows = true class) and drawn to a PNG, normalized per true class.

        \b
        Examples:
          cnnkit eval runs/fmnist
          cnnkit eval runs/fmnist --split val
          cnnkit eval runs/digits-net --data folder:./my_digits
          cnnkit eval runs/fmnist --tta --json > results.json
        """
        from cnnkit.cli.common import print_json
        from cnnkit.data.images import check_png_path
        from cnnkit.train.plots import write_confusion
        from cnnkit.train.predict import evaluate_run

        if plot is not None:
            check_png_path(plot, "--plot")  # before the evaluation, not after it
        ev = evaluate_run(
            run, data=data, split=split, batch_size=batch_size, device=device, tta_flip=tta, amp=amp, skip_bad=skip_bad
        )
        target = plot or Path(run) / _plot_name(ev.data, ev.split)
        write_confusion(
            target, ev.result.confusion, ev.info.classes,
            title=f"{ev.data} {ev.split} split: accuracy {ev.result.accuracy * 100:.2f}% of {ev.result.num_samples:,}",
        )
        result = _eval_dict(ev, target)
        if as_json:
            print_json(result)
        else:
            for note in ev.notes:
                print(note)
            _print_eval(result)

    @app.command("predict")
    def predict_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory written by `cnnkit train`."),
        images: list[str] = typer.Argument(
            ..., metavar="IMAGE...", help="Image files, folders of them (searched below, sorted) or quoted patterns such as 'photos/*.jpg'."
        ),
        topk: int = typer.Option(3, "--topk", "-k", min=1, help="How many classes to show per image."),
        device: str = DEVICE,
        tta: Optional[bool] = typer.Option(None, "--tta/--no-tta", help="Average each image with its mirror image [default: as the run was evaluated]."),
        output_format: Optional[str] = typer.Option(
            None, "--format", "-f", help="text (one line per file), json or csv, on stdout [default: text]."
        ),
        as_json: bool = typer.Option(False, "--json", help="The same as --format json: a list of {file, top, error}."),
        csv_file: Optional[Path] = typer.Option(
            None, "--csv", help="Also write the results as a CSV table to this .csv file."
        ),
    ) -> None:
        """Classify image files with a trained run: the top classes with probabilities.

        Images of any size and colour mode are converted as the run's metadata says
        (channels, size, normalization). A folder stands for the image files below it and
        a quoted pattern for the files it matches, both sorted by path. A missing, corrupt
        or non-image file gets a one-line error and the other files are still predicted.
        Exit status: 0 when every file was predicted, 1 when any file failed, 2 when the
        run itself cannot be used.

        \b
        Examples:
          cnnkit predict runs/fmnist shirt.png boot.jpg
          cnnkit predict runs/fmnist photos/ --topk 5
          cnnkit predict runs/fmnist 'photos/**/*.jpg' --csv predictions.csv
          cnnkit predict runs/fmnist shirt.png --json
        \b
        Output:
          shirt.png: Shirt 91.2%, T-shirt/top 6.1%, Pullover 1.3%
          (CSV: file,class_1,probability_1,...,error)
        """
        import sys

        from cnnkit.cli.common import print_json
        from cnnkit.errors import CnnkitError
        from cnnkit.train.device import choose_device
        from cnnkit.train.predict import image_paths, predict, predictions_csv
        from cnnkit.train.run import load_run

        if as_json and output_format not in (None, "json"):
            raise CnnkitError(f"--json and --format {output_format} ask for two outputs; give one of them")
        chosen = "json" if as_json else (output_format or "text")
        if chosen not in PREDICT_FORMATS:
            raise CnnkitError(f"--format {chosen!r} is not known; choose one of: {', '.join(PREDICT_FORMATS)}")
        if csv_file is not None:
            from cnnkit.data.images import check_output_file

            check_output_file(csv_file, "--csv", ".csv", "the table is written as CSV", "predictions")
        paths = image_paths(images)  # a wrong folder or pattern fails before the run is loaded
        loaded = load_run(run, device=choose_device(device))
        results = predict(loaded, paths, topk=topk, tta_flip=tta)
        if csv_file is not None:
            from cnnkit.atomic import write_text

            write_text(csv_file, predictions_csv(results))
        if chosen == "json":
            print_json([r.to_dict() for r in results])
        elif chosen == "csv":
            sys.stdout.write(predictions_csv(results))
        else:
            for r in results:
                print(r.line(), file=sys.stdout if r.ok else sys.stderr)
        if not all(r.ok for r in results):
            raise typer.Exit(1)
