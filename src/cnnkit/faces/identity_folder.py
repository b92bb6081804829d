"""folder:PATH for identities: one sub-folder per person, LFW's layout.

::

    PATH/Aaron_Eckhart/Aaron_Eckhart_0001.jpg
    PATH/Abba_Eban/Abba_Eban_0001.jpg  PATH/Abba_Eban/Abba_Eban_0002.jpg ...

Each identity is a non-hidden sub-folder of PATH, named by the folder; its images are
the image files directly inside it (hidden files, files of other types and deeper
folders are skipped), sorted by name. Every image goes through
:func:`cnnkit.data.images.load_image` (colour mode, cover-resize, centre crop) to one
(C, H, W). An identity with a single image is kept (it can be enrolled, or serve as a
negative) but noted, because same-identity pairs and triplets need two;
``require_pairs=True`` refuses it instead.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit.data.convert import check_fits
from cnnkit.data.folder import FolderTerms, is_image_file, scan
from cnnkit.data.images import load_image
from cnnkit.data.natural_shape import NaturalShape, natural_shape
from cnnkit.errors import DataError
from cnnkit.faces.identities import IdentitySet

__all__ = ["IDENTITY_FOLDER", "load_identity_folder", "natural_identity_shape", "scan_identities"]

IDENTITY_FOLDER = FolderTerms(
    "identity", "one sub-folder of images per identity",
    "put each person's images in a folder of their own, e.g. {root}/Ada_Lovelace/Ada_Lovelace_0001.jpg",
    "verification and recognition need at least two identity folders", recursive=False,
)


def scan_identities(root: Path) -> dict[str, list[Path]]:
    """Identity name -> its sorted image files, for every non-hidden sub-folder of ``root``
    (DataError naming the folder for a missing root, no or empty identity folders, or one)."""
    return scan(root, IDENTITY_FOLDER)


def natural_identity_shape(path: str | Path) -> NaturalShape:
    """The shape :mod:`cnnkit.data.natural_shape` chooses for the images of an identity folder."""
    found = scan_identities(Path(path).expanduser())
    return natural_shape([f for files in found.values() for f in files], option="--image-size")


def load_identity_folder(
    path: str | Path, *, input_shape: tuple[int, int, int] | None = None, require_pairs: bool = False
) -> IdentitySet:
    """Read every image under ``path`` (see the module docstring) into an IdentitySet.

    input_shape: (C, H, W) every image is converted to, C in {1, 3}; None: the one
    :func:`natural_identity_shape` chooses from the images (said in a note).
    require_pairs: refuse identities with a single image (DataError naming the first).
    Names are the folder names; ``paths`` holds each image's file; rows are grouped by
    identity in name order, files in name order within an identity.
    """
    root = Path(path).expanduser()
    found = scan_identities(root)
    where = f"folder:{root}"
    chosen = None
    if input_shape is None:
        chosen = natural_shape([f for files in found.values() for f in files], option="--image-size")
        input_shape = chosen.shape
    single = [name for name, files in found.items() if len(files) == 1]
    if single and require_pairs:
        raise DataError(
            f"{where}: identity {single[0]} has a single image ({found[single[0]][0].name}) but pairs need two of each; "
            "add an image to it or remove the folder"
            + (f" ({len(single) - 1} more identities have one image)" if len(single) > 1 else "")
        )
    total = sum(len(files) for files in found.values())
    check_fits(total, tuple(input_shape), 1, where)
    images = torch.empty((total, *input_shape), dtype=torch.uint8)
    identities = torch.empty(total, dtype=torch.int64)
    paths: list[str] = []
    for k, files in enumerate(found.values()):
        for file in files:
            try:
                images[len(paths)] = load_image(file, input_shape=tuple(input_shape))
            except DataError as err:
                raise DataError(f"{where}: {err}") from None
            identities[len(paths)] = k
            paths.append(str(file))
    notes = [f"read {total} images of {len(found)} identities from {root} as {'x'.join(map(str, input_shape))}"]
    if chosen is not None:
        notes.append(chosen.note)
    loose = [p for p in root.iterdir() if is_image_file(p)]
    if loose:
        notes.append(f"{len(loose)} image files directly in {root} are ignored: they are in no identity folder")
    if single:
        shown = ", ".join(single[:5]) + (f" and {len(single) - 5} more" if len(single) > 5 else "")
        notes.append(f"{len(single)} identities have a single image (no same-identity pairs): {shown}")
    return IdentitySet(images, identities, tuple(found), where, notes, paths)
