"""Messages of cnnkit.nn.pretrained: one line, right for every command that loads weights."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnkit.errors import ModelError
from cnnkit.nn.pretrained import load_torchvision_weights, read_weights_file


def test_offline_message_names_the_option_of_each_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ModelError, match="could not download") as info:
        # the download fails before the model is touched: any module will do
        load_torchvision_weights(torch.nn.Linear(1, 1), "IMAGENET1K_V1", arch="resnet18")
    message = str(info.value)
    assert "\n" not in message
    # `cnnkit style` and `cnnkit explain` call the option --weights; `cnnkit finetune` --pretrained
    assert "--weights FILE" in message and "--pretrained FILE" in message


def test_an_image_is_not_a_weights_file_in_one_line(tmp_path: Path) -> None:
    for name in ("cat.png", "cat.pth"):  # an image, under its own name and under a weights name
        path = tmp_path / name
        Image.new("RGB", (8, 8)).save(path, format="PNG")
        with pytest.raises(ModelError) as info:
            read_weights_file(path)
        message = str(info.value)
        assert "\n" not in message and "not a weights file" in message and str(path) in message
        assert "weights_only" not in message  # torch's advice to unpickle is not ours to give
