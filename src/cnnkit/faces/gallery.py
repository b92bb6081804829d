"""Recognition (1:K): enroll K identities into a gallery file, identify new faces against it.

A :class:`Gallery` holds, per identity, one or a few embeddings (float (k_i, d)), the
threshold tau of the model that made them, and that model's fingerprint: embeddings of
two different models are not comparable, so a gallery refuses to be used with another.

File format (JSON, written atomically)::

    {"format": "cnnkit-gallery", "format_version": 1, "cnnkit_version": "0.1.0",
     "metric": "sq_l2", "tau": 0.83, "model_fingerprint": "3fa1...", "dim": 128,
     "identities": [{"name": "alice", "embeddings": [[...d floats...], ...],
                     "sources": ["alice/1.png", ...]}, ...]}

``sources`` (where each embedding came from) is optional. Identification takes the
nearest enrolled embedding by squared L2 distance; beyond tau the face is "unknown".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.atomic import write_json
from cnnkit.errors import CnnkitError, DataError, RunError, ShapeError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METRIC",
    "Gallery",
    "Match",
    "check_gallery_path",
    "enroll",
    "fingerprint",
    "identify",
    "load_gallery",
    "save_gallery",
]

FORMAT = "cnnkit-gallery"
FORMAT_VERSION = 1
METRIC = "sq_l2"


def _version() -> str:
    from cnnkit import __version__

    return __version__


def fingerprint(state_dict: Mapping[str, Tensor]) -> str:
    """A short hex id of a model's weights: sha256 over every tensor's name, dtype, shape
    and raw bytes, in sorted key order (16 hex digits)."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        # A byte view works for every dtype (bfloat16 has no numpy twin).
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class Gallery:
    """Enrolled identities: ``names[k]`` owns ``embeddings[k]``, float32 (k_i, d), k_i >= 1."""

    names: tuple[str, ...]
    embeddings: list[Tensor]
    tau: float
    model_fingerprint: str
    metric: str = METRIC
    sources: list[list[str]] | None = None
    format_version: int = FORMAT_VERSION
    cnnkit_version: str = field(default_factory=_version)

    def __post_init__(self) -> None:
        self.names = tuple(str(n) for n in self.names)
        self.embeddings = [torch.as_tensor(e).detach().to("cpu", torch.float32) for e in self.embeddings]
        if len(self.names) != len(self.embeddings) or not self.names:
            raise DataError(f"a gallery needs one embedding block per name, got {len(self.names)} names and "
                            f"{len(self.embeddings)} blocks")
        if len(set(self.names)) != len(self.names):
            twice = sorted({n for n in self.names if self.names.count(n) > 1})
            raise DataError(f"identity names must be unique in a gallery; repeated: {', '.join(twice)}")
        dims = {tuple(e.shape[1:]) for e in self.embeddings}
        if any(e.dim() != 2 or e.shape[0] == 0 for e in self.embeddings) or len(dims) != 1:
            shapes = ", ".join(str(tuple(e.shape)) for e in self.embeddings[:4])
            raise ShapeError(f"every identity needs float (k, d) embeddings with k >= 1 and one d, got {shapes}")
        if not all(bool(torch.isfinite(e).all()) for e in self.embeddings):
            raise DataError("the gallery embeddings contain NaN or infinity; check the model and the images")
        if self.metric != METRIC:
            raise DataError(f"unknown gallery metric {self.metric!r}; this cnnkit compares with {METRIC!r}")
        if self.sources is not None and [len(s) for s in self.sources] != [e.shape[0] for e in self.embeddings]:
            raise DataError("sources must list one entry per enrolled embedding of each identity")
        self.tau = float(self.tau)

    @property
    def dim(self) -> int:
        """Embedding size d."""
        return int(self.embeddings[0].shape[1])

    def stacked(self) -> tuple[Tensor, Tensor]:
        """All embeddings float32 (E, d) and their owners int64 (E,) (indices into names)."""
        owners = torch.cat([torch.full((e.shape[0],), k, dtype=torch.long) for k, e in enumerate(self.embeddings)])
        return torch.cat(self.embeddings), owners


@dataclass(frozen=True)
class Match:
    """One query's answer: ``name`` (None for unknown), the squared L2 ``distance`` to the
    nearest enrolled embedding, and the ``nearest`` identity (set even when unknown)."""

    name: str | None
    distance: float
    nearest: str

    @property
    def known(self) -> bool:
        return self.name is not None


def enroll(
    embeddings: Tensor, identities: Tensor, names: Sequence[str], *, tau: float, model_fingerprint: str,
    sources: Sequence[str] | None = None,
) -> Gallery:
    """Group N embeddings float (N, d) by ``identities`` int64 (N,) (indices into ``names``)
    into a gallery; every name needs at least one embedding. ``sources`` (N,) names where
    each embedding came from (file paths)."""
    if embeddings.dim() != 2 or identities.shape != (embeddings.shape[0],):
        raise ShapeError(f"enroll needs embeddings (N, d) and identities (N,), got {tuple(embeddings.shape)} "
                         f"and {tuple(identities.shape)}")
    if sources is not None and len(sources) != embeddings.shape[0]:
        raise DataError(f"{len(sources)} sources for {embeddings.shape[0]} embeddings; give one per embedding")
    identities = identities.long().cpu()
    if identities.numel() and (int(identities.min()) < 0 or int(identities.max()) >= len(names)):
        raise DataError(f"identity indices must lie in 0..{len(names) - 1}, one per name")
    blocks, where = [], []
    for k, name in enumerate(names):
        rows = torch.nonzero(identities == k).flatten()
        if rows.numel() == 0:
            raise DataError(f"identity {name!r} has no image to enroll; add one or leave the name out")
        blocks.append(embeddings.detach()[rows.to(embeddings.device)])
        if sources is not None:
            where.append([str(sources[int(r)]) for r in rows])
    return Gallery(names=tuple(names), embeddings=blocks, tau=tau, model_fingerprint=model_fingerprint,
                   sources=where if sources is not None else None)


def identify(gallery: Gallery, embeddings: Tensor) -> list[Match]:
    """Identify N faces (embeddings float (N, d)): the nearest enrolled embedding of any
    identity, unknown (``name=None``) when its squared L2 distance is above ``gallery.tau``."""
    if embeddings.dim() != 2:
        raise ShapeError(f"identify needs embeddings (N, d), got {tuple(embeddings.shape)}")
    if embeddings.shape[1] != gallery.dim:
        raise RunError(f"the gallery holds {gallery.dim}-d embeddings but the model gives {embeddings.shape[1]}-d "
                       "ones; enroll the gallery again with this model")
    enrolled, owners = gallery.stacked()
    queries = embeddings.detach().to("cpu", torch.float32)
    # The exact difference path: the ||a||^2 + ||b||^2 - 2ab shortcut loses digits near tau.
    squared = torch.cdist(queries, enrolled, compute_mode="donot_use_mm_for_euclid_dist").pow(2)  # (N, E)
    best, column = squared.min(dim=1) if len(queries) else (torch.empty(0), torch.empty(0, dtype=torch.long))
    matches = []
    for distance, col in zip(best.tolist(), column.tolist()):
        nearest = gallery.names[int(owners[col])]
        matches.append(Match(name=nearest if distance <= gallery.tau else None, distance=distance, nearest=nearest))
    return matches


def check_gallery_path(path: str | Path) -> None:
    """CnnkitError unless ``path`` can take a gallery: a name ending in .json that is not a
    folder (so an image or other file given by mistake is never overwritten with JSON)."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise CnnkitError(f"-o {path}: a gallery is written as JSON; give a file name ending in .json, e.g. gallery.json")
    if path.is_dir():
        raise CnnkitError(f"-o {path} is a folder; give a gallery file name such as {path / 'gallery.json'}")


def save_gallery(gallery: Gallery, path: str | Path) -> Path:
    """Write ``gallery`` as JSON (atomic: a reader never sees half a file) to a .json path
    (see :func:`check_gallery_path`)."""
    check_gallery_path(path)
    data: dict[str, Any] = {
        "format": FORMAT, "format_version": gallery.format_version, "cnnkit_version": gallery.cnnkit_version,
        "metric": gallery.metric, "tau": gallery.tau, "model_fingerprint": gallery.model_fingerprint,
        "dim": gallery.dim, "identities": [],
    }
    for k, (name, block) in enumerate(zip(gallery.names, gallery.embeddings)):
        entry: dict[str, Any] = {"name": name, "embeddings": block.tolist()}
        if gallery.sources is not None:
            entry["sources"] = list(gallery.sources[k])
        data["identities"].append(entry)
    return write_json(path, data)


def load_gallery(path: str | Path, *, expected_fingerprint: str | None = None,
                 expected_dim: int | None = None) -> Gallery:
    """Read a gallery file; RunError when it is missing, not a cnnkit gallery, from a newer
    format, enrolled with another model (``expected_fingerprint``) or of another embedding
    size (``expected_dim``)."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path} does not exist; create it with `cnnkit faces enroll RUN --gallery DIR -o {path.name}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"{path} is not readable JSON ({err}); enroll the gallery again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RunError(f"{path} is not a cnnkit gallery file; enroll one with `cnnkit faces enroll`")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(f"{path} is in gallery format {version} (cnnkit {data.get('cnnkit_version', '?')}) but this "
                       f"cnnkit reads format {FORMAT_VERSION}; upgrade cnnkit or enroll again")
    found = str(data.get("model_fingerprint", "?"))
    if expected_fingerprint is not None and found != expected_fingerprint:
        raise RunError(f"{path.name} was enrolled with another model (fingerprint {found}, this model "
                       f"{expected_fingerprint}); enroll again with this run")
    try:
        entries = data["identities"]
        sources = [list(map(str, e["sources"])) for e in entries] if all("sources" in e for e in entries) else None
        gallery = Gallery(
            names=tuple(e["name"] for e in entries),
            embeddings=[torch.tensor(e["embeddings"], dtype=torch.float32) for e in entries],
            tau=float(data["tau"]), model_fingerprint=found, metric=str(data.get("metric", METRIC)),
            sources=sources, format_version=version,
            cnnkit_version=str(data.get("cnnkit_version", "?")),
        )
    except (KeyError, TypeError, ValueError, DataError, ShapeError) as err:
        raise RunError(f"{path} is a damaged gallery ({err}); enroll the gallery again") from None
    if data.get("dim", gallery.dim) != gallery.dim:
        raise RunError(f"{path} says its embeddings are {data['dim']}-d but holds {gallery.dim}-d ones; "
                       "enroll the gallery again")
    if expected_dim is not None and gallery.dim != expected_dim:
        raise RunError(f"{path} holds {gallery.dim}-d embeddings but this model makes {expected_dim}-d ones; "
                       "enroll the gallery again with this run")
    return gallery
