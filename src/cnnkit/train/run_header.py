"""Reading which kind of run a folder holds, from its model.safetensors metadata.

Every cnnkit command that writes a run stores its JSON description under its own key of
the safetensors header: ``cnnkit`` (``cnnkit train``: a classifier), ``cnnkit_detect``
(``cnnkit detect train``), ``cnnkit_faces`` (``cnnkit faces train``). A command handed
another command's run says which one wrote it and which command to use instead.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.errors import RunError

MODEL_FILE = "model.safetensors"

# metadata key -> (what the run is, the commands that use it)
RUN_KINDS: dict[str, tuple[str, str]] = {
    "cnnkit": ("a classifier run (from `cnnkit train`)", "`cnnkit eval`/`cnnkit predict`"),
    "cnnkit_detect": ("a detector run (from `cnnkit detect train`)", "`cnnkit detect eval`/`cnnkit detect predict`"),
    "cnnkit_faces": ("a face embedding run (from `cnnkit faces train`)", "`cnnkit faces eval`/`verify`/`identify`"),
}


def read_run_header(path: str | Path, *, key: str) -> str:
    """The JSON text stored under ``key`` in RUN/model.safetensors.

    RunError (one line, saying what to do) for: no such folder, a folder that holds no run,
    an unfinished run, a damaged weights file, and a run written by another command.
    """
    from safetensors import safe_open

    producer, _ = RUN_KINDS[key]
    command = producer.split("from ")[1].rstrip(")")
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
    raw = header.get(key)
    if raw is None:
        for other, (what, use) in RUN_KINDS.items():
            if other != key and other in header:
                raise RunError(f"{run} is {what}, not {producer.split(' (')[0]}; use {use} on it, "
                               f"or give a run from {command}")
        raise RunError(f"{model} has no cnnkit metadata for this command; it was not written by {command}")
    return raw
