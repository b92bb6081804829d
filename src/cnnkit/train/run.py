"""Run directories: the hand-off between training and everything after it.

``runs/NAME/`` holds (see docs/runs.md for every format)::

    config.json        the TrainConfig as JSON: all that is needed to repeat the run
    metrics.jsonl      one JSON object per finished epoch
    model.safetensors  the final weights; safetensors metadata key "cnnkit" holds a JSON
                       string with the architecture, builder arguments, input shape,
                       dataset info (classes, mean, std) and the format version
    curves.png, confusion.png, report.md   written by plots.py and report.py
    checkpoint files   the trainer's (checkpoint.py), for --resume

Loading never unpickles: weights come from safetensors, everything else from JSON, and
the model is rebuilt from its architecture text with :func:`cnnkit.build`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from cnnkit.atomic import save_tensors, write_json, write_text
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, RunError

__all__ = [
    "CONFIG",
    "CONFUSION",
    "CURVES",
    "FORMAT_VERSION",
    "LOCK",
    "METADATA_KEY",
    "METRICS",
    "MODEL",
    "REPORT",
    "LoadedRun",
    "ModelMetadata",
    "RunDir",
    "check_state",
    "load_run",
    "unwrap",
]

FORMAT_VERSION = 1  # bump when a run directory written by an older cnnkit can no longer load
METADATA_KEY = "cnnkit"  # the safetensors metadata entry holding our JSON

CONFIG = "config.json"
METRICS = "metrics.jsonl"
MODEL = "model.safetensors"
CURVES = "curves.png"
CONFUSION = "confusion.png"
REPORT = "report.md"
LOCK = ".lock"  # held (flock) by the process training the run; see RunDir.hold
_BEFORE_FIRST_EPOCH = {CONFIG, LOCK}  # all a run has written until its first checkpoint


def _version() -> str:
    from cnnkit import __version__

    return __version__


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel and torch.compile wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


@dataclass
class ModelMetadata:
    """What it takes to rebuild a trained model and feed it data, stored beside its weights.

    ``architecture`` is a zoo name ("resnet20") or spec text; ``cnnkit.build(architecture,
    **builder_kwargs)`` recreates the network. ``input_shape`` is one sample without the
    batch, e.g. (1, 28, 28). ``dataset`` is :meth:`DatasetInfo.to_dict` (classes, mean, std).
    """

    architecture: str
    builder_kwargs: dict[str, Any]
    input_shape: tuple[int, ...]
    dataset: dict[str, Any]
    cnnkit_version: str = field(default_factory=_version)
    format_version: int = FORMAT_VERSION

    @property
    def info(self) -> DatasetInfo:
        return DatasetInfo.from_dict(self.dataset)

    @classmethod
    def describe(
        cls, model: nn.Module, info: DatasetInfo, *, builder_kwargs: dict[str, Any] | None = None
    ) -> ModelMetadata:
        """Metadata for a model made by :func:`cnnkit.build`.

        The architecture comes from the model (``spec`` text or ``zoo_name``);
        ``builder_kwargs`` are the arguments it was built with (e.g. ``in_channels``,
        ``input_size``). ``num_classes`` is always taken from the model itself, so a
        model whose classifier was replaced (fine-tuning) rebuilds with the right head.
        """
        model = unwrap(model)
        # cnnkit.build records the arguments a model was built with; explicit ones win
        kwargs = {**(getattr(model, "builder_kwargs", None) or {}), **(builder_kwargs or {})}
        kwargs.pop("weights", None)  # pretrained weights are superseded by ours
        spec = getattr(model, "spec", None)
        zoo = getattr(model, "zoo_name", None)
        if isinstance(spec, str):
            architecture = spec
            kwargs["input_shape"] = list(model.input_shape)  # type: ignore[attr-defined]
            if _spec_has_fc(spec):
                kwargs["num_classes"] = int(model.num_classes)  # type: ignore[attr-defined]
        elif isinstance(zoo, str):
            architecture = zoo
            kwargs["num_classes"] = int(model.num_classes)  # type: ignore[attr-defined]
        else:
            raise RunError(
                f"cannot save a {type(model).__name__} in a run directory: only models made by "
                "cnnkit.build (a zoo name or a spec) can be rebuilt when the run is loaded"
            )
        return cls(architecture, kwargs, tuple(info.input_shape), info.to_dict())

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": self.format_version,
                "cnnkit_version": self.cnnkit_version,
                "architecture": self.architecture,
                "builder_kwargs": self.builder_kwargs,
                "input_shape": list(self.input_shape),
                "dataset": self.dataset,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        data = json.loads(text)
        return cls(
            architecture=str(data["architecture"]),
            builder_kwargs=dict(data.get("builder_kwargs", {})),
            input_shape=tuple(int(v) for v in data["input_shape"]),
            dataset=dict(data["dataset"]),
            cnnkit_version=str(data.get("cnnkit_version", "?")),
            format_version=int(data["format_version"]),
        )

    def verify(self, model: nn.Module) -> None:
        """RunError unless :meth:`build` makes a model whose state dict fits ``model``'s.

        The rebuild runs on the meta device (no memory, no initialization), so this is
        cheap enough to call before training as well as before saving.
        """
        with torch.device("meta"):
            expected = self.build().state_dict()
        check_state(expected, unwrap(model).state_dict(), where="the model being saved")

    def build(self) -> nn.Module:
        """A freshly initialized model of this architecture (RunError if it cannot be built)."""
        from cnnkit.nn.build import build

        kwargs = dict(self.builder_kwargs)
        if "input_shape" in kwargs:
            kwargs["input_shape"] = tuple(kwargs["input_shape"])
        try:
            return build(self.architecture, **kwargs)
        except CnnkitError as err:
            raise RunError(
                f"cannot rebuild the run's model {_short(self.architecture)!r} with {self.builder_kwargs}: "
                f"{err}; was the run written by another cnnkit version ({self.cnnkit_version})?"
            ) from None


def _spec_has_fc(spec: str) -> bool:
    from cnnkit.nn.spec import parse_spec
    from cnnkit.nn.spec.planner import final_fc

    return final_fc(parse_spec(spec).items) is not None


def _short(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def check_state(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], *, where: str) -> None:
    """RunError naming missing, unexpected and mis-shaped tensors, if any."""
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    shapes = [
        f"{k} {tuple(found[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found and tuple(found[k].shape) != tuple(v.shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", shapes)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{label}: {', '.join(items[:3])}{more}")
    if problems:
        raise RunError(
            f"the weights in {where} do not fit the rebuilt model ({'; '.join(problems)}); "
            "the file belongs to another architecture or was edited: retrain, or restore the run"
        )


class RunDir:
    """One run directory. ``RunDir(path)`` only names it; :meth:`create` makes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: IO[str] | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def finished(self) -> bool:
        """True once the final weights are saved (a killed run has none)."""
        return self.file(MODEL).is_file()

    @classmethod
    def create(cls, path: str | Path, *, exist_ok: bool = False, resumable: bool = True) -> RunDir:
        """Make the folder. An existing non-empty folder is an error unless ``exist_ok``
        (resuming), so a finished run is never overwritten by accident. ``resumable``: the
        error mentions ``cnnkit train --resume`` (runs of other commands cannot resume)."""
        run = cls.check_free(path, exist_ok=exist_ok, resumable=resumable)
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    @classmethod
    def check_free(cls, path: str | Path, *, exist_ok: bool = False, resumable: bool = True) -> RunDir:
        """The checks of :meth:`create` without making the folder, for a command that has
        work to do first and should leave nothing behind when that work fails."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise RunError(f"{run.path} is a file, not a run directory; choose another run directory")
        if not exist_ok and run.path.is_dir() and not run.unstarted:
            elsewhere = "choose another run directory or delete the folder"
            if not run.finished and not run.file(CONFIG).is_file():
                raise RunError(f"{run.path} already holds other files, not a run; choose another run directory")
            if not resumable:
                how = elsewhere
            elif run.finished:
                how = f"{elsewhere}, or train it for more epochs with `cnnkit train --resume {run.path} --more N`"
            else:
                how = f"continue it with `cnnkit train --resume {run.path}`, or {elsewhere}"
            raise RunError(f"{run.path} already holds {'a finished' if run.finished else 'an unfinished'} run; {how}")
        return run

    @property
    def unstarted(self) -> bool:
        """True when the folder holds nothing a run would lose: it is empty, or holds only
        what a run writes before its first epoch ends (a run stopped that early saved nothing
        to resume, so the same command may start it again)."""
        return self.path.is_dir() and all(entry.name in _BEFORE_FIRST_EPOCH for entry in self.path.iterdir())

    # -- one writer at a time ------------------------------------------------------------
    def hold(self) -> None:
        """Claim the run for this process until :meth:`release` (or the process ends, even
        by kill -9: the OS drops a flock with its holder). A second process that trains or
        resumes the same folder meanwhile gets a RunError instead of both writing the
        checkpoint, metrics and weights at once. Without fcntl (Windows) it does nothing."""
        try:
            import fcntl
        except ImportError:
            return
        handle = open(self.file(LOCK), "a")  # noqa: SIM115 -- kept open while the run is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunError(
                f"{self.path} is in use by another cnnkit process (training or resuming it); "
                "wait for it to finish, or stop it, then try again"
            ) from None
        self._lock = handle

    def release(self) -> None:
        """Give up the claim of :meth:`hold` (the lock file stays, empty)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- config -------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> Path:
        return write_json(self.file(CONFIG), config)

    def read_config(self) -> dict[str, Any]:
        return _read_json(self.file(CONFIG), what="the run's configuration")

    # -- metrics ------------------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> Path:
        """Add one epoch's record to metrics.jsonl.

        Records of the same or a later epoch are dropped first, so an epoch repeated after
        ``--resume`` replaces the stale line instead of duplicating it. The file is small
        and rewritten atomically: a killed run never leaves half a line.
        """
        epoch = record.get("epoch")
        kept = self.read_metrics()
        if isinstance(epoch, int):
            kept = [r for r in kept if not (isinstance(r.get("epoch"), int) and r["epoch"] >= epoch)]
        kept.append(record)
        return write_text(self.file(METRICS), "".join(json.dumps(r) + "\n" for r in kept))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record in metrics.jsonl ([] when there is none yet)."""
        path = self.file(METRICS)
        if not path.is_file():
            return []
        records = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunError(f"{path} line {number} is not JSON; delete that line or the file") from None
        return records

    # -- weights ------------------------------------------------------------------------
    def save_model(self, model: nn.Module, metadata: ModelMetadata, *, verify: bool = True) -> Path:
        """Write model.safetensors: the state dict plus ``metadata`` as one JSON string.

        With ``verify`` the architecture is rebuilt on the meta device (no memory, no
        initialization) and compared with the weights, so a run that cannot be loaded
        later fails now, while the trainer can still say why.
        """
        if verify:
            metadata.verify(model)
        state = unwrap(model).state_dict()
        return save_tensors(self.file(MODEL), state, metadata={METADATA_KEY: metadata.to_json()})

    def read_metadata(self) -> ModelMetadata:
        """The metadata stored in model.safetensors (reads only the header)."""
        from safetensors import safe_open

        from cnnkit.train.run_header import wrong_kind_error

        path = self._model_path()
        try:
            with safe_open(str(path), framework="pt") as handle:
                header = handle.metadata() or {}
                raw = header.get(METADATA_KEY)
        except Exception as err:  # safetensors raises several types for damaged files
            raise RunError(f"{path} is corrupt or not a safetensors file ({err}); retrain or restore it") from None
        wrong = wrong_kind_error(self.path, header, METADATA_KEY)  # a detect, faces or localizer run
        if wrong is not None:
            raise wrong
        if raw is None:
            raise RunError(f"{path} has no cnnkit metadata; it was not written by `cnnkit train`")
        try:
            meta = ModelMetadata.from_json(raw)
        except (ValueError, KeyError, TypeError) as err:
            raise RunError(f"{path} has unreadable cnnkit metadata ({err}); retrain or restore it") from None
        if meta.format_version != FORMAT_VERSION:
            newer = meta.format_version > FORMAT_VERSION
            raise RunError(
                f"{path} is in run format {meta.format_version} (cnnkit {meta.cnnkit_version}) but this "
                f"cnnkit reads format {FORMAT_VERSION}; "
                + ("upgrade cnnkit to load it" if newer else "retrain the model with this cnnkit")
            )
        return meta

    def load_weights(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        path = self._model_path()
        try:
            return load_file(str(path), device=str(device))
        except Exception as err:
            raise RunError(f"{path} is corrupt or not a safetensors file ({err}); retrain or restore it") from None

    def _model_path(self) -> Path:
        path = self.file(MODEL)
        if not path.is_file():
            if not self.file(CONFIG).is_file():  # nothing of a run here at all
                raise RunError(
                    f"{self.path} is not a run directory (no {MODEL}, no {CONFIG}); give the "
                    "folder `cnnkit train` wrote, e.g. runs/NAME"
                )
            raise RunError(
                f"{self.path} has no {MODEL}: the run did not finish; continue it with "
                f"`cnnkit train --resume {self.path}` or train again"
            )
        return path


def _read_json(path: Path, *, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise RunError(f"{path} is missing ({what}); is {path.parent} a complete run directory?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path} is not valid JSON ({err}); restore it from a copy or retrain") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} should hold a JSON object; restore it from a copy or retrain")
    return data


@dataclass
class LoadedRun:
    """A finished run, ready to use: ``model`` is in eval mode with its weights loaded."""

    path: Path
    model: nn.Module
    info: DatasetInfo
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    metadata: ModelMetadata

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.metadata.input_shape

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes


def load_run(path: str | Path, *, device: torch.device | str = "cpu") -> LoadedRun:
    """Open a run directory: rebuild its model, load the weights (strict), read its files.

    Raises RunError for a missing folder, missing or corrupt files, a run written in
    another format version, or weights that do not fit the rebuilt model.
    """
    run = RunDir(path)
    if not run.path.is_dir():
        raise RunError(
            f"no run directory at {run.path}; give the folder `cnnkit train` wrote, e.g. runs/NAME"
        )
    metadata = run.read_metadata()
    config = run.read_config()
    metrics = run.read_metrics()
    model = metadata.build()
    state = run.load_weights(device="cpu")
    check_state(model.state_dict(), state, where=str(run.file(MODEL)))
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    try:
        info = metadata.info
    except (KeyError, TypeError, ValueError) as err:
        raise RunError(f"{run.file(MODEL)} has incomplete dataset metadata ({err}); retrain") from None
    return LoadedRun(run.path, model, info, config, metrics, metadata)
