"""lfw: Labeled Faces in the Wild through scikit-learn's ``fetch_lfw_people``.

scikit-learn keeps LFW (about 200 MB, 13,233 photos of 5,749 people) in its data folder
(``~/scikit_learn_data`` or ``$SCIKIT_LEARN_DATA``, or ``data_home``) once downloaded. We
first ask for the cached copy (``download_if_missing=False``: no network); only when
it is missing and ``download`` is on do we let scikit-learn download it. Offline that
fails (``URLError``, an ``OSError``), and we say in one line what to do instead.

scikit-learn crops the faces (its default 125x94 window around the face), scales them by
``resize`` (0.5 gives 62x47) and averages the colours to grey unless ``color=True``; its
float values 0..1 become uint8 0..255 here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnkit.errors import DataError
from cnnkit.faces.identities import IdentitySet

__all__ = ["DEFAULT_MIN_FACES", "DEFAULT_RESIZE", "load_lfw"]

DEFAULT_MIN_FACES = 2  # every identity then has a same-identity pair
DEFAULT_RESIZE = 0.5


def _fetch(**options: object) -> object:
    import warnings

    from sklearn import datasets  # looked up at call time so tests can stand in for it

    with warnings.catch_warnings():
        # scikit-learn warns "Retry downloading from url: ..." before its retry; when that fails
        # too, our one-line error says what happened and what to do
        warnings.filterwarnings("ignore", message="Retry downloading", category=UserWarning)
        return datasets.fetch_lfw_people(**options)


def _where(data_home: str | Path | None) -> str:
    from sklearn.datasets import get_data_home

    return str(Path(get_data_home(data_home=None if data_home is None else str(data_home))) / "lfw_home")


def load_lfw(
    *,
    min_faces_per_person: int = DEFAULT_MIN_FACES,
    resize: float = DEFAULT_RESIZE,
    channels: int = 1,
    data_home: str | Path | None = None,
    download: bool = True,
) -> IdentitySet:
    """LFW people with at least ``min_faces_per_person`` photos as an IdentitySet.

    images: uint8 (N, channels, H, W) with H, W = round-down of 125 * resize, 94 * resize
    (scikit-learn's face window); names are the people ("George W Bush"), in
    alphabetical order; ``paths`` is None (scikit-learn does not report files).
    Raises DataError, in one line, when LFW is not cached and cannot be downloaded.
    """
    if channels not in (1, 3):
        raise DataError(f"lfw: channels must be 1 (grey) or 3 (colour), got {channels}")
    if min_faces_per_person < 1:
        raise DataError(f"lfw: min_faces_per_person must be at least 1, got {min_faces_per_person}")
    if not resize > 0:
        raise DataError(f"lfw: resize must be above 0, got {resize}; 0.5 gives 62x47 faces")
    options = {
        "min_faces_per_person": min_faces_per_person, "resize": resize, "color": channels == 3,
        "data_home": None if data_home is None else str(data_home),
    }  # fmt: skip
    try:
        try:
            bunch = _fetch(download_if_missing=False, **options)
        except OSError:  # not cached: scikit-learn says "... is missing"
            if not download:
                raise DataError(
                    f"lfw: not in scikit-learn's cache ({_where(data_home)}) and downloading is off; "
                    "run once with internet access and download on, or give folder:PATH of an LFW-style folder (PATH/Name/Name_0001.jpg)"
                ) from None
            bunch = _fetch(download_if_missing=True, n_retries=1, **options)
    except OSError as err:  # URLError, HTTPError, timeouts and checksum failures are all OSErrors
        reason = getattr(err, "reason", None) or err
        raise DataError(
            f"lfw: could not download Labeled Faces in the Wild (~200 MB) into {_where(data_home)} ({reason}); "
            "run once with internet access so scikit-learn caches it, or give folder:PATH of an LFW-style folder (PATH/Name/Name_0001.jpg)"
        ) from None
    except ValueError as err:  # scikit-learn: "min_faces_per_person=... is too restrictive"
        raise DataError(f"lfw: {err}; choose a smaller min_faces_per_person") from None
    faces = np.asarray(bunch.images, dtype=np.float32)  # type: ignore[attr-defined]
    faces = faces[:, None] if faces.ndim == 3 else faces.transpose(0, 3, 1, 2)  # -> (N, C, H, W)
    images = torch.from_numpy(np.ascontiguousarray(np.rint(faces * 255.0).clip(0, 255).astype(np.uint8)))
    identities = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))  # type: ignore[attr-defined]
    names = tuple(str(n) for n in bunch.target_names)  # type: ignore[attr-defined]
    if len(names) < 2:
        raise DataError(f"lfw: only {len(names)} person has {min_faces_per_person} or more photos; choose a smaller min_faces_per_person")
    note = (
        f"lfw: {len(images)} faces of {len(names)} people with at least {min_faces_per_person} photos each, "
        f"{images.shape[2]}x{images.shape[3]} (scikit-learn's face crop, resize {resize})"
    )
    return IdentitySet(images, identities, names, "lfw", [note], None)
