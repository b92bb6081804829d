"""Which cnnkit command wrote a run directory, read from its weights file's header.

Every cnnkit command that writes a run stores its JSON description under its own key of
the safetensors header: ``cnnkit`` (``cnnkit train``: a classifier), ``cnnkit_detect``
(``cnnkit detect train``), ``cnnkit_faces`` (``cnnkit faces train``), ``cnnkit_localize``
(``cnnkit detect localize``). A command handed another command's run says which one
wrote it and what to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cnnkit.errors import RunError

__all__ = [
    "MODEL_FILE",
    "RUN_KINDS",
    "config_kind",
    "not_resumable_error",
    "read_run_header",
    "run_kind",
    "wrong_kind_error",
]

MODEL_FILE = "model.safetensors"

# metadata key -> (what the run is, what to do with it instead)
RUN_KINDS: dict[str, tuple[str, str]] = {
    "cnnkit": ("a classifier run (from `cnnkit train`)", "use `cnnkit eval`/`cnnkit predict` on it"),
    "cnnkit_detect": ("a detector run (from `cnnkit detect train`)",
                      "use `cnnkit detect eval`/`cnnkit detect predict` on it"),
    "cnnkit_faces": ("a face embedding run (from `cnnkit faces train`)",
                     "use `cnnkit faces eval`/`verify`/`identify` on it"),
    "cnnkit_localize": ("a localizer run (from `cnnkit detect localize`)",
                "load it in Python with cnnkit.detect.localize_fit.load_localizer (no command reads it back)"),
}


def run_kind(header: Mapping[str, str]) -> str | None:
    """The RUN_KINDS key of the command that wrote a safetensors ``header`` (its metadata
    dict), or None when no cnnkit command wrote it."""
    return next((key for key in RUN_KINDS if key in header), None)


def _command(kind: str) -> str:
    """'`cnnkit train`' for "cnnkit": the command that writes runs of ``kind``."""
    return RUN_KINDS[kind][0].split("from ")[1].rstrip(")")


def wrong_kind_error(run: Path, header: Mapping[str, str], wanted: str) -> RunError | None:
    """A RunError (to raise) when ``header`` belongs to a run of another kind than ``wanted``
    (a RUN_KINDS key): it names the command that wrote the run and what to use instead.
    None when the run is of the wanted kind, or when no cnnkit command wrote it."""
    kind = run_kind(header)
    if kind is None or kind == wanted:
        return None
    what, advice = RUN_KINDS[kind]
    wanted_what = RUN_KINDS[wanted][0].split(" (")[0]
    return RunError(f"{run} is {what}, not {wanted_what}; give a run from {_command(wanted)}, or {advice}")


def read_run_header(path: str | Path, *, key: str) -> str:
    """The JSON text stored under ``key`` in RUN/model.safetensors.

    RunError (one line, saying what to do) for: no such folder, a folder that holds no run,
    an unfinished run, a damaged weights file, and a run written by another command.
    """
    from safetensors import safe_open

    command = _command(key)
    run = Path(path)
    if not run.is_dir():
        raise RunError(f"no run directory at {run}; give the folder {command} --out wrote")
    model = run / MODEL_FILE
    if not model.is_file():
        if not (run / "config.json").is_file():
            raise RunError(f"{run} is not a run directory (no {MODEL_FILE}, no config.json); give the folder "
                           f"{command} --out wrote")
        raise RunError(f"{run} has no {MODEL_FILE}: the training did not finish; train again")
    try:
        with safe_open(str(model), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as err:  # noqa: BLE001 -- safetensors raises several types for damaged files
        raise RunError(f"{model} is corrupt or not a safetensors file ({err}); retrain or restore it") from None
    wrong = wrong_kind_error(run, header, key)
    if wrong is not None:
        raise wrong
    raw = header.get(key)
    if raw is None:
        raise RunError(f"{model} has no cnnkit metadata for this command; it was not written by {command}")
    return raw


# config.json's "kind" (detect and faces runs) or "command" (localizer runs) -> RUN_KINDS key;
# a classifier's config.json has neither value.
_CONFIG_KINDS = {"detect": "cnnkit_detect", "faces": "cnnkit_faces", "detect localize": "cnnkit_localize"}


def config_kind(config: Mapping[str, object]) -> str | None:
    """The RUN_KINDS key of the command that wrote a run's config.json (a dict), None for a
    classifier run; unlike the weights header, config.json is there before the run finishes."""
    for field in ("kind", "command"):
        value = config.get(field)
        if isinstance(value, str) and value in _CONFIG_KINDS:
            return _CONFIG_KINDS[value]
    return None


def not_resumable_error(run: Path, kind: str) -> RunError:
    """What `cnnkit train --resume` says about a run of another command (``kind``, a RUN_KINDS key)."""
    what = RUN_KINDS[kind][0]
    return RunError(
        f"{run} is {what}; `cnnkit train --resume` continues classifier runs only, and "
        f"{_command(kind)} cannot resume a run yet: train again with {_command(kind)} --out NEW_FOLDER"
    )
