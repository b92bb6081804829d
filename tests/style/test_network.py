"""Where the network's weights come from: cache/download, files, runs, random only if allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from cnnkit.errors import CnnkitError, ModelError
from cnnkit.style.network import open_network


def test_offline_without_weights_is_one_clear_line(offline: Path) -> None:
    with pytest.raises(ModelError) as err:
        open_network("vgg19")
    message = str(err.value)
    assert "\n" not in message
    assert "no pretrained weights for vgg19" in message
    assert "could not be downloaded" in message and str(offline) in message  # where the cache is
    assert "--allow-random-weights" in message and "--weights FILE" in message


def test_random_weights_only_when_allowed_and_never_silently(offline: Path) -> None:
    notes: list[str] = []
    subject, pretrained = open_network("resnet18", allow_random_weights=True, seed=3, warn=notes.append)
    assert pretrained is False
    assert len(notes) == 1 and "RANDOM weights" in notes[0] and "seed 3" in notes[0]
    assert "random" in subject.name
    # eval mode, frozen, no in-place ReLU (hooks must see the layer outputs unchanged)
    assert not subject.model.training
    assert not any(p.requires_grad for p in subject.model.parameters())
    assert not any(getattr(m, "inplace", False) for m in subject.model.modules())


def test_random_weights_follow_the_seed(offline: Path) -> None:
    spec = "INPUT(3x16x16) -> CONV(4, k=3) -> RELU -> FC(2)"
    a, _ = open_network(spec, allow_random_weights=True, seed=1)
    b, _ = open_network(spec, allow_random_weights=True, seed=1)
    c, _ = open_network(spec, allow_random_weights=True, seed=2)
    wa, wb, wc = (next(s.model.parameters()) for s in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_model_without_torchvision_weights_needs_a_file_or_permission(offline: Path) -> None:
    with pytest.raises(ModelError, match="quicknet has no torchvision weights.*--allow-random-weights"):
        open_network("quicknet")


def test_unknown_model_name_suggests(offline: Path) -> None:
    with pytest.raises(CnnkitError, match="vgg19"):
        open_network("vgg91", allow_random_weights=True)


def test_local_torchvision_file(tmp_path: Path, offline: Path) -> None:
    """A torchvision state dict saved as safetensors (torchvision's parameter names)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    subject, pretrained = open_network("resnet18", weights=str(path))
    assert pretrained is True
    torch.testing.assert_close(subject.model.features.conv1.weight, reference.conv1.weight)


def test_cnnkit_state_dict_for_a_zoo_model_torchvision_lacks(tmp_path: Path) -> None:
    from cnnkit.nn.build import build

    model = build("quicknet")
    path = tmp_path / "quicknet.pth"
    torch.save(model.state_dict(), path)
    subject, pretrained = open_network("quicknet", weights=str(path))
    assert pretrained is True and subject.input_shape[0] == 1
    first = next(subject.model.parameters())
    torch.testing.assert_close(first, next(model.parameters()))


def test_weights_that_do_not_fit_say_so(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"something.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match="do not fit quicknet"):
        open_network("quicknet", weights=str(path))
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot read weights file"):
        open_network("resnet18", weights=str(junk))


def test_run_directory(tmp_path: Path) -> None:
    import cnnkit

    spec = "INPUT(1x16x16) -> CONV(8, k=3, p=same) -> RELU -> POOL(2) -> CONV(8, k=3, p=same) -> RELU -> FC(10)"
    out = tmp_path / "run"
    cnnkit.train(spec, "digits", out=out, quiet=True, progress=False, epochs=1, batch_size=128,
                 input_shape=(1, 16, 16), augment="none", tta_flip=False, seed=0, device="cpu", limit=256)  # fmt: skip
    subject, pretrained = open_network(str(out))
    assert pretrained is True and subject.path == out and subject.input_shape == (1, 16, 16)
