"""Fixtures for the style-transfer tests: tiny pictures, small networks, no network access.

``pictures``: scikit-image's bundled photo and texture, shrunk to 48 px, in a temporary
folder. ``tiny``: a four-convolution spec CNN with seeded random weights (fast; 3 channels).
``vgg19``: the default network with random weights, built once per worker. ``offline``:
an empty torch hub cache and a download function that fails as it does without internet.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from cnnkit.style.extractor import FeatureExtractor
from cnnkit.style.network import open_network

TINY_SPEC = (
    "INPUT(3x32x32) -> [CONV(8, k=3, p=same) -> RELU]*2 -> POOL(2)"
    " -> [CONV(16, k=3, p=same) -> RELU]*2 -> POOL(2) -> FC(10)"
)


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("style-pictures")
    cat = Image.fromarray(data.chelsea()).resize((48, 32), Image.Resampling.BILINEAR)
    brick = Image.fromarray(data.brick()).resize((40, 40), Image.Resampling.BILINEAR)
    paths = {"content": folder / "cat.png", "style": folder / "brick.png"}
    cat.save(paths["content"])
    brick.save(paths["style"])
    return paths


@pytest.fixture(scope="session")
def tiny() -> FeatureExtractor:
    subject, pretrained = open_network(TINY_SPEC, allow_random_weights=True, seed=0)
    return FeatureExtractor(subject, pretrained=pretrained)


@pytest.fixture(scope="session")
def vgg19() -> FeatureExtractor:
    """VGG19 with seeded random weights, made directly (never looks for downloads)."""
    from cnnkit.style.network import _random

    return FeatureExtractor(_random("vgg19", 0, "cpu"), pretrained=False)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No cached torchvision weights and no internet: downloads fail at once."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    return tmp_path / "torch-home"
