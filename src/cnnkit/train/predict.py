"""Use a trained run: classify image files (top-k), or evaluate it on a dataset split.

Every file is read with :func:`cnnkit.data.images.load_image`, converted to the run's
input shape (channels and size) and normalized with the run's mean and std, exactly as
the training data was. A file that cannot be read becomes a :class:`FileError` in its
place in the results; the other files are still predicted. Folders and glob patterns
stand for the image files in them (:func:`image_paths`), and :func:`predictions_csv`
writes the results as a table.

:func:`evaluate_run` reloads the run's dataset (the same validation carve-out: same
seed and fraction) or another one with the same classes, and evaluates it.
"""

from __future__ import annotations

import csv
import glob
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, DataError, RunError
from cnnkit.train.run import LoadedRun, load_run

__all__ = [
    "SPLITS",
    "FileError",
    "Prediction",
    "RunEvaluation",
    "evaluate_run",
    "image_paths",
    "predict",
    "predictions_csv",
]


@dataclass(frozen=True)
class Prediction:
    """The ``top`` classes of one file, most probable first: (class name, probability 0..1)."""

    file: str
    top: list[tuple[str, float]]

    @property
    def ok(self) -> bool:
        return True

    def line(self) -> str:
        """'shirt.png: Shirt 91.2%, T-shirt/top 6.1%, Pullover 1.3%'."""
        return f"{self.file}: " + ", ".join(f"{name} {p * 100:.1f}%" for name, p in self.top)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "top": [{"class": n, "probability": p} for n, p in self.top], "error": None}


@dataclass(frozen=True)
class FileError:
    """A file that could not be predicted, with the one-line reason."""

    file: str
    error: str

    @property
    def ok(self) -> bool:
        return False

    def line(self) -> str:
        return f"{self.file}: error: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "top": [], "error": self.error}


_GLOB_CHARS = frozenset("*?[")


def image_paths(args: Sequence[str | Path]) -> list[Path]:
    """What ``cnnkit predict`` classifies: each argument as given, except a folder -> the
    image files below it and a glob pattern (``'photos/*.jpg'``, ``'**/*.png'``) -> the
    files it matches, each sorted by path. A named file stays even when it is missing or
    no image (predict reports it in its place). DataError for a folder without images or
    a pattern that matches nothing: there would be nothing to say about it."""
    from cnnkit.data.folder import is_image_file
    from cnnkit.data.images import IMAGE_SUFFIXES

    found: list[Path] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if is_image_file(p) and not _hidden(p.relative_to(path)))
            if not images:
                raise DataError(f"{path}: a folder without image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                                "give image files, a folder of them, or a pattern such as 'photos/*.jpg'")  # fmt: skip
            found += images
        elif not path.exists() and _GLOB_CHARS & set(str(arg)):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True) if Path(m).is_file())
            if not matches:
                raise DataError(f"{arg}: no file matches this pattern; check the folder and the pattern")
            found += matches
        else:
            found.append(path)
    return found


def _hidden(relative: Path) -> bool:
    """A path below a hidden folder (.git, .ipynb_checkpoints ...), which holds no inputs."""
    return any(part.startswith(".") for part in relative.parts)


def predictions_csv(results: Sequence[Prediction | FileError]) -> str:
    """One CSV row per file: file, class_1, probability_1, ... class_k, probability_k, error
    (k: the longest top list; probabilities 0..1; empty cells where a file failed)."""
    k = max((len(r.top) for r in results if isinstance(r, Prediction)), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", *(f"{name}_{i}" for i in range(1, k + 1) for name in ("class", "probability")), "error"])
    for r in results:
        top = r.top if isinstance(r, Prediction) else []
        cells = [cell for name, p in top for cell in (name, f"{p:.6f}")]
        writer.writerow([r.file, *cells, *[""] * (2 * k - len(cells)), r.error if isinstance(r, FileError) else ""])
    return out.getvalue()


def predict(
    run: LoadedRun | str | Path,
    paths: Sequence[str | Path],
    *,
    topk: int = 3,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    tta_flip: bool | None = None,
) -> list[Prediction | FileError]:
    """Predict each image file; one result per path, in the order given.

    Args:
        run: a loaded run or the path of a run directory.
        paths: image files (PNG, JPEG, ...; any size and colour mode); folders and glob
            patterns are expanded with :func:`image_paths` first.
        topk: how many classes to list per file (at most the number of classes).
        batch_size: images per forward pass.
        device: where to run the model; default: where the loaded model is (CPU for a path).
        tta_flip: average the logits of each image and its mirror image; default: as the
            run was evaluated (its config's flip TTA, where a mirror image keeps the label).
    """
    if topk < 1:
        raise CnnkitError(f"topk must be at least 1, got {topk}")
    paths = image_paths(paths)  # before the run is loaded: a wrong folder fails at once
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    if loaded.info.kind != "image":
        raise RunError(
            f"{loaded.path} was trained on {loaded.info.kind} data ({loaded.info.name}); "
            "predict reads image files, so use `cnnkit eval` for this run"
        )
    from cnnkit.data.images import load_image

    model = loaded.model.eval()
    if device is not None:
        model = model.to(device)
    target = next(model.parameters()).device
    results: list[Prediction | FileError | None] = [None] * len(paths)
    pending: list[tuple[int, torch.Tensor]] = []  # (index in paths, uint8 image (C, H, W))
    for index, path in enumerate(paths):
        try:
            pending.append((index, load_image(path, input_shape=loaded.input_shape)))
        except (CnnkitError, OSError) as err:
            message = str(err)
            prefix = f"{path}: "  # load_image names the file first; say it once
            results[index] = FileError(str(path), message.removeprefix(prefix))
    if tta_flip is None:
        tta_flip = bool(loaded.config.get("tta_flip", False)) and loaded.info.flip_ok
    k = min(topk, loaded.info.num_classes)
    with torch.inference_mode():
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            batch = torch.stack([image for _, image in chunk]).to(target)  # (N, C, H, W) uint8
            x = loaded.info.normalize(batch)
            logits = model(x)  # (N, classes)
            if tta_flip:
                logits = (logits + model(x.flip(-1))) / 2
            probs, classes = torch.softmax(logits.float(), dim=1).topk(k, dim=1)
            for row, (index, _) in enumerate(chunk):
                top = [(loaded.info.classes[int(c)], float(p)) for p, c in zip(probs[row], classes[row])]
                results[index] = Prediction(str(paths[index]), top)
    return [r for r in results if r is not None]


@dataclass
class RunEvaluation:
    """A run evaluated on one split: ``result`` is the trainer's EvalResult (accuracy,
    loss, per_class_accuracy, confusion (C, C) rows = true class, ...); ``info`` is the
    evaluated dataset's info (its class names label the confusion rows)."""

    run: LoadedRun
    data: str
    split: str
    info: DatasetInfo
    result: Any
    notes: list[str]


SPLITS = ("test", "val", "train")


def _class_list(classes: Sequence[str], limit: int = 4) -> str:
    """'(T-shirt/top, Trouser, Pullover, Dress, ... 10 in all)': a class list, shortened."""
    shown = ", ".join(classes[:limit])
    return f"({shown}, ... {len(classes)} in all)" if len(classes) > limit else f"({shown})"


def _check_same_classes(name: str, classes: Sequence[str], run: LoadedRun) -> None:
    """DataError unless dataset ``name`` has the run's class names in the run's label order
    (any case): with the same count but other classes, label k of the data is not what
    output k of the model means, and the accuracy would be silently meaningless."""
    if [c.lower() for c in classes] == [c.lower() for c in run.info.classes]:
        return
    order = " (the same names in another order)" if sorted(map(str.lower, classes)) == sorted(
        map(str.lower, run.info.classes)) else ""
    raise DataError(
        f"the classes of {name} {_class_list(classes)} differ from those {run.path} was trained on "
        f"{_class_list(run.info.classes)}{order}; evaluate on the data the run was trained on "
        f"({run.info.name}, the default without --data)"
    )


def evaluate_run(
    run: LoadedRun | str | Path,
    *,
    data: str | None = None,
    split: str = "test",
    batch_size: int | None = None,
    device: str = "auto",
    tta_flip: bool | None = None,
    amp: str | None = None,
    download: bool = True,
    skip_bad: bool | None = None,
) -> RunEvaluation:
    """Evaluate a run on ``split`` of ``data`` (default: the dataset it was trained on).

    The data is converted to the run's input shape and normalized with the run's own
    mean and std. ``batch_size``, ``tta_flip`` and ``amp`` (bf16 autocast: auto, bf16,
    off) default to the run's configuration, so the figures match the run's report.
    Raises DataError when the dataset's class count or class names (in label order, any
    case) differ from the model's.
    """
    from cnnkit.data.sources import load_dataset
    from cnnkit.train.device import resolve_runtime
    from cnnkit.train.evaluate import evaluate

    if amp is not None and amp not in ("auto", "bf16", "off"):
        raise CnnkitError(f"unknown amp mode {amp!r}; choose auto, bf16 or off")
    if split not in SPLITS:
        raise CnnkitError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    config = loaded.config
    name = data or str(config.get("data") or loaded.info.name)
    if data is None:  # the run's own data: say so plainly when its folder has moved
        from cnnkit.data.reference import check_reference

        check_reference(name, run=loaded.path)
    shape = loaded.input_shape if loaded.info.kind == "image" else None
    splits = load_dataset(
        name,
        val_fraction=float(config.get("val_fraction", 0.1)),
        seed=int(config.get("seed", 0)),
        input_shape=shape,
        limit=config.get("limit"),
        download=download,
        skip_bad=bool(config.get("skip_bad", False)) if skip_bad is None else skip_bad,  # default: as the run trained
    )
    if splits.info.num_classes != loaded.info.num_classes:
        raise DataError(
            f"{name} has {splits.info.num_classes} classes but the model of {loaded.path} predicts "
            f"{loaded.info.num_classes}; evaluate on a dataset with the same classes, or fine-tune first"
        )
    _check_same_classes(name, splits.info.classes, loaded)
    part = getattr(splits, split)
    if len(part) == 0:
        raise DataError(f"the {split} split of {name} is empty; choose another --split")
    runtime = resolve_runtime(
        device,
        amp or str(config.get("amp", "auto")),
        str(config.get("channels_last", "auto")),
        spatial_dims=len(loaded.input_shape) - 1,
    )
    model = loaded.model.to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    result = evaluate(
        model,
        part,
        loaded.info,  # the run's normalization, not the new dataset's
        batch_size=batch_size or int(config.get("eval_batch_size", 1024)),
        device=runtime.device,
        # by default as the run did: flip TTA only for images, where a mirror keeps the label
        tta_flip=(bool(config.get("tta_flip", False)) and loaded.info.flip_ok and loaded.info.kind == "image")
        if tta_flip is None else tta_flip,
        amp_dtype=runtime.amp_dtype,
        channels_last=runtime.channels_last,
    )
    return RunEvaluation(loaded, name, split, splits.info, result, list(splits.notes))
