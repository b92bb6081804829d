"""Subject: formats, classes, layers, image references, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.interpret.layers import layer_table
from cnnkit.interpret.subject import Subject, conv_layer_names, open_subject
from cnnkit.nn.capture import capture


def test_trained_fixture_learned(digits_subject: Subject) -> None:
    part = digits_subject.dataset_split("test")
    probs = digits_subject.probabilities(digits_subject.to_input(part.x))
    assert (probs.argmax(1) == part.y).float().mean() > 0.85  # a real model, not noise


def test_input_pixel_round_trip_matches_dataset_normalize(digits_subject: Subject) -> None:
    x = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    expected = (x.float() / 255 - digits_subject.info.mean[0]) / digits_subject.info.std[0]
    got = digits_subject.to_input(x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(digits_subject.input_to_pixels(got), x.float() / 255)
    low, high = digits_subject.input_bounds()
    torch.testing.assert_close(low.flatten(), torch.tensor([-digits_subject.info.mean[0] / digits_subject.info.std[0]]))
    torch.testing.assert_close(high.flatten(), torch.tensor([(1 - digits_subject.info.mean[0]) / digits_subject.info.std[0]]))


def test_no_inplace_activations_and_frozen_weights(digits_subject: Subject) -> None:
    assert not any(getattr(m, "inplace", False) for m in digits_subject.model.modules())
    assert not any(p.requires_grad for p in digits_subject.model.parameters())
    assert not digits_subject.model.training


def test_class_index_by_name_and_number(digits_subject: Subject) -> None:
    assert digits_subject.class_index(3) == 3
    assert digits_subject.class_index("7") == 7
    name = digits_subject.classes[5]
    assert digits_subject.class_index(name.upper()) == 5
    for bad in (10, -1, "eleven"):
        with pytest.raises(CnnkitError, match="class"):
            digits_subject.class_index(bad)


def test_layer_lookup_and_error(digits_subject: Subject) -> None:
    names = conv_layer_names(digits_subject.model)
    assert len(names) == 2
    assert isinstance(digits_subject.layer(names[0]), torch.nn.Conv2d)
    with pytest.raises(CnnkitError, match="no layer 'nope'.*convolutions are"):
        digits_subject.layer("nope")


def test_a_unique_suffix_names_a_layer_everywhere(digits_subject: Subject) -> None:
    import dataclasses

    from cnnkit import build

    quicknet = dataclasses.replace(digits_subject, model=build("quicknet", num_classes=10, in_channels=1).eval())
    modules = dict(quicknet.model.named_modules())
    assert quicknet.layer_name("stage2.conv1") == "features.stage2.conv1"
    assert quicknet.layer("stage2.conv1") is modules["features.stage2.conv1"]
    with pytest.raises(CnnkitError, match=r"layer 'conv1' is ambiguous in .*: features.stage1.conv1, "
                                          r"features.stage2.conv1, features.stage3.conv1; give more of the name"):
        quicknet.layer("conv1")
    spec_names = dict(digits_subject.model.named_modules())
    assert digits_subject.layer("conv1") is next(m for n, m in spec_names.items() if n.endswith(".conv1"))


def test_layer_table_shapes_match_hooks(digits_subject: Subject) -> None:
    rows = {r["name"]: r for r in layer_table(digits_subject)}
    modules = dict(digits_subject.model.named_modules())
    x = torch.zeros(1, 1, 16, 16)
    _, outs = capture(digits_subject.model, {n: modules[n] for n in rows}, x, call="last")
    for name, row in rows.items():
        assert row["output_shape"] == list(outs[name].shape[1:])


def test_read_image_file_and_dataset_reference(digits_subject: Subject, tmp_path: Path) -> None:
    part = digits_subject.dataset_split("test")
    x, label = digits_subject.read_image("test:4")
    assert torch.equal(x, part.x[4]) and label == int(part.y[4])
    # a colour image of another size is converted (grey, 16x16) like predict does
    path = tmp_path / "big.png"
    Image.fromarray(np.full((40, 30, 3), 200, dtype=np.uint8)).save(path)
    image, label = digits_subject.read_image(path)
    assert image.shape == (1, 16, 16) and image.dtype == torch.uint8 and label is None
    with pytest.raises(CnnkitError, match="has .* images"):
        digits_subject.read_image("test:100000")


def test_wrong_tensor_shapes_and_dtypes(digits_subject: Subject) -> None:
    with pytest.raises(ShapeError, match="1x16x16"):
        digits_subject.to_input(torch.zeros(3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ShapeError, match="uint8"):
        digits_subject.to_input(torch.zeros(1, 16, 16))


def test_open_subject_errors(tmp_path: Path) -> None:
    with pytest.raises(CnnkitError, match="not a run directory"):
        open_subject("quicknet")
    with pytest.raises(CnnkitError, match="no run directory"):
        open_subject(str(tmp_path / "missing" / "run"))
    with pytest.raises(CnnkitError, match="has no torchvision weights"):
        open_subject("quicknet", weights="IMAGENET1K_V1")


def test_open_subject_with_torchvision_weights_file(tmp_path: Path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    reference = resnet18().eval()
    path = tmp_path / "resnet18.safetensors"
    save_file(reference.state_dict(), str(path))
    subject = open_subject("resnet18", weights=str(path))
    assert subject.num_classes == 1000 and subject.input_shape == (3, 224, 224)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(subject.model(x), reference(x), rtol=1e-4, atol=1e-4)


def test_dataset_is_loaded_once_for_many_references(digits_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnkit.data.sources as sources

    calls = []
    real = sources.load_dataset
    monkeypatch.setattr(sources, "load_dataset", lambda *a, **k: calls.append(1) or real(*a, **k))
    subject = open_subject(digits_run)
    first, _ = subject.read_image("test:1")
    subject.read_image("test:2")
    subject.read_image("val:0")
    assert len(calls) == 1
    assert torch.equal(first, real("digits", val_fraction=subject.config["val_fraction"], seed=subject.config["seed"],
                                   input_shape=(1, 16, 16), limit=subject.config.get("limit")).test.x[1])


def test_a_misspelt_split_reference_suggests_the_split(digits_subject: Subject) -> None:
    with pytest.raises(CnnkitError, match=r"tset:3: no such file, and 'tset' is not a split \(did you mean 'test'\?\); "
                                          "images of the run's dataset are test:N, val:N or train:N"):
        digits_subject.read_image("tset:3")
