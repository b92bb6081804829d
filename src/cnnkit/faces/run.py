"""Face embedding run directories: saving and loading a trained embedder with its tau.

``runs/NAME/`` written by ``cnnkit faces train`` holds::

    config.json        the command, data, backbone and every training setting
    metrics.jsonl      one JSON object per epoch: loss, mined triplets, val AUC
    model.safetensors  the weights; safetensors metadata key "cnnkit_faces" holds a JSON
                       string (:class:`EmbedderMetadata`): backbone name or spec text, dim,
                       image shape, mean/std, the threshold tau (squared L2) and how it
                       was chosen, the training identities, the validation spread
                       (:mod:`cnnkit.faces.collapse`), format version
    metrics.json, report.md, roc.png, distances.png   the test evaluation

Loading never unpickles: the embedder is rebuilt with :func:`build_embedder` from the
metadata and the weights are loaded strictly. The weights' :func:`fingerprint` ties a
gallery file to the model that enrolled it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnkit.atomic import save_tensors
from cnnkit.errors import CnnkitError, RunError
from cnnkit.faces.embed import EmbeddingNet, build_embedder
from cnnkit.faces.gallery import fingerprint
from cnnkit.train.run import MODEL, RunDir, check_state

__all__ = [
    "FORMAT_VERSION",
    "METADATA_KEY",
    "EmbedderMetadata",
    "LoadedEmbedder",
    "load_embedder",
    "save_embedder",
]

FORMAT_VERSION = 1
METADATA_KEY = "cnnkit_faces"


def _version() -> str:
    from cnnkit import __version__

    return __version__


@dataclass
class EmbedderMetadata:
    """What rebuilds an embedder and how to decide "same identity" with it."""

    backbone: str
    dim: int
    input_shape: tuple[int, int, int]  # (C, H, W) the images are converted to
    mean: list[float]
    std: list[float]
    tau: float  # squared L2 distance: same identity when d <= tau
    tau_rule: str  # how tau was chosen on the validation pairs: "accuracy" or "far@<target>"
    identities: tuple[str, ...] = ()  # the training identities (a face never seen is not among them)
    spread: float | None = None  # median validation different-pair distance (faces.collapse); None: not recorded
    cnnkit_version: str = field(default_factory=_version)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["input_shape"], data["identities"] = list(self.input_shape), list(self.identities)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> EmbedderMetadata:
        data = json.loads(text)
        return cls(
            backbone=str(data["backbone"]), dim=int(data["dim"]),
            input_shape=tuple(int(v) for v in data["input_shape"]),  # type: ignore[arg-type]
            mean=[float(v) for v in data["mean"]], std=[float(v) for v in data["std"]], tau=float(data["tau"]),
            tau_rule=str(data["tau_rule"]), identities=tuple(str(n) for n in data.get("identities", [])),
            spread=None if data.get("spread") is None else float(data["spread"]),
            cnnkit_version=str(data.get("cnnkit_version", "?")), format_version=int(data["format_version"]),
        )

    def build(self) -> EmbeddingNet:
        """A freshly initialized embedder of this architecture (RunError if it cannot be built)."""
        c, h, w = self.input_shape
        try:
            return build_embedder(self.backbone, dim=self.dim, in_channels=c, image_size=(h, w))
        except CnnkitError as err:
            raise RunError(f"cannot rebuild the run's embedder: {err}; was it written by another cnnkit version "
                           f"({self.cnnkit_version})?") from None


def save_embedder(run: RunDir | str | Path, net: EmbeddingNet, metadata: EmbedderMetadata) -> Path:
    """Write RUN/model.safetensors: the embedder's state dict + ``metadata`` as JSON."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    check_state(metadata.build().state_dict(), state, where="the embedder being saved")
    return save_tensors(run.file(MODEL), state, metadata={METADATA_KEY: metadata.to_json()})


@dataclass
class LoadedEmbedder:
    """A finished face run: ``net`` in eval mode with its weights, metadata, config, metrics."""

    path: Path
    net: EmbeddingNet
    metadata: EmbedderMetadata
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    fingerprint: str  # of the weights: galleries enrolled with this run carry it

    @property
    def tau(self) -> float:
        return self.metadata.tau

    def check_usable(self, *, tau: float | None = None, tau_given: bool = False, tau_advice: str = "give --tau T") -> None:
        """RunError when the embedding collapsed, or when the threshold cannot decide anything
        (:func:`cnnkit.faces.collapse.check_usable`). ``tau``: the threshold to be used (the
        run's own by default); ``tau_given``: the user chose it, so only the embedding is
        checked; ``tau_advice``: how the user can give another."""
        from cnnkit.faces.collapse import check_usable

        threshold = None if tau_given else (self.tau if tau is None else tau)
        check_usable(str(self.path), tau=threshold, spread=self.metadata.spread, tau_advice=tau_advice)


def load_embedder(path: str | Path, *, device: torch.device | str = "cpu") -> LoadedEmbedder:
    """Open a face run: rebuild the embedder from its metadata, load the weights strictly."""
    from safetensors.torch import load_file

    from cnnkit.train.run_header import read_run_header

    raw = read_run_header(path, key=METADATA_KEY)
    run = RunDir(path)
    model = run.file(MODEL)
    try:
        meta = EmbedderMetadata.from_json(raw)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise RunError(f"{model} has unreadable face-run metadata ({err!r}); retrain or restore it") from None
    if meta.format_version != FORMAT_VERSION:
        newer = meta.format_version > FORMAT_VERSION
        raise RunError(f"{model} is in face-run format {meta.format_version} but this cnnkit reads format "
                       f"{FORMAT_VERSION}; " + ("upgrade cnnkit to load it" if newer else "train the run again"))
    try:
        state = load_file(str(model), device="cpu")
    except Exception as err:  # noqa: BLE001 -- safetensors raises several types for damaged files
        raise RunError(f"{model} is corrupt ({err}); retrain or restore it") from None
    net = meta.build()
    check_state(net.state_dict(), state, where=str(model))
    net.load_state_dict(state, strict=True)
    net.to(device).eval()
    config = run.read_config() if run.file("config.json").is_file() else {}
    return LoadedEmbedder(run.path, net, meta, config, run.read_metrics(), fingerprint(state))
