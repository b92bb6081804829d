"""Fashion-MNIST and MNIST: 70,000 28x28 greyscale images in IDX files.

Fashion-MNIST is looked for, in order, in

1. the data folder (``$CNNKIT_DATA`` or ``~/.cache/cnnkit/data``): ``fashion-mnist/``
   or torchvision's layout ``FashionMNIST/raw/``;
2. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package ``dataset-fashion-mnist``);
3. else torchvision downloads it into the data folder (md5-checked by torchvision).

MNIST is looked for in ``mnist/`` or ``MNIST/raw/`` of the data folder, else downloaded
by torchvision. Files may be raw or ``.gz``; every file is checked (see :mod:`idx`).
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.data import paths
from cnnkit.data.idx import has_idx_set, read_idx_set
from cnnkit.data.raw import RawData, split_from_numpy
from cnnkit.errors import DataError

__all__ = ["DIGIT_CLASSES", "FASHION_CLASSES", "candidates", "load", "locate"]

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(d) for d in range(10))

# name -> (folders under the data root, torchvision class name)
_LAYOUT = {
    "fashion-mnist": (("fashion-mnist", "FashionMNIST/raw"), "FashionMNIST"),
    "mnist": (("mnist", "MNIST/raw"), "MNIST"),
}


def candidates(name: str, root: str | Path | None = None) -> list[Path]:
    """Every folder searched for ``name``, in order."""
    base = paths.data_root(root)
    system = [paths.SYSTEM_FASHION_MNIST] if name == "fashion-mnist" else []  # read at call time
    return [base / sub for sub in _LAYOUT[name][0]] + system


def locate(name: str, root: str | Path | None = None) -> Path | None:
    """The first folder holding all four files of ``name``, or None."""
    for folder in candidates(name, root):
        if has_idx_set(folder):
            return folder
    return None


def _how_to_get(name: str, root: str | Path | None) -> str:
    base = paths.data_root(root)
    ways = []
    if name == "fashion-mnist":
        ways.append("install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu)")
    ways.append(f"run once with internet access (cnnkit downloads into {paths.describe_root(root)})")
    ways.append(
        f"copy the four files (train-images-idx3-ubyte.gz ...) into {base / _LAYOUT[name][0][0]} "
        f"(or into {_LAYOUT[name][0][0]}/ under the folder $CNNKIT_DATA names)"
    )
    return "to get it, " + "; or ".join(ways)


def _download(name: str, root: str | Path | None) -> Path:
    import torchvision.datasets as tvd

    base = paths.data_root(root)
    tv_class = getattr(tvd, _LAYOUT[name][1])
    try:
        base.mkdir(parents=True, exist_ok=True)
        tv_class(root=str(base), train=True, download=True)
    except Exception as err:  # noqa: BLE001 -- offline, proxy, disk full: all end in the same advice
        reason = str(err).strip().splitlines()[0].rstrip(":") if str(err).strip() else type(err).__name__
        raise DataError(f"{name} is not on this machine and the download failed ({reason}); {_how_to_get(name, root)}") from None
    folder = base / _LAYOUT[name][1] / "raw"
    if not has_idx_set(folder):
        raise DataError(f"{name}: the download finished but {folder} lacks the four IDX files; {_how_to_get(name, root)}")
    return folder


def load(name: str, *, root: str | Path | None = None, download: bool = True) -> RawData:
    """Read ``fashion-mnist`` or ``mnist`` (train 60,000, test 10,000; uint8 1x28x28)."""
    folder = locate(name, root)
    notes = []
    if folder is None:
        if not download:
            searched = ", ".join(str(p) for p in candidates(name, root))
            raise DataError(f"{name} not found (searched {searched}) and downloads are off; {_how_to_get(name, root)}")
        folder = _download(name, root)
        notes.append(f"downloaded {name} into {folder}")
    fix = f"delete it and {_how_to_get(name, root)}"
    arrays = read_idx_set(folder, prefix=name, fix=fix)
    notes.append(f"read {name} from {folder}")
    return RawData(
        name=name,
        kind="image",
        classes=FASHION_CLASSES if name == "fashion-mnist" else DIGIT_CLASSES,
        train=split_from_numpy(arrays["train_images"], arrays["train_labels"]),
        test=split_from_numpy(arrays["test_images"], arrays["test_labels"]),
        source=str(folder),
        flip_ok=name == "fashion-mnist",  # clothes mirror fine; digits do not
        notes=notes,
    )
