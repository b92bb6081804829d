"""Cross-cutting guarantees of the interpret API: no state leaks, the caller's model is
left alone, attacks only report changing a correct prediction, classes named by numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError
from cnnkit.interpret.adversarial import attack
from cnnkit.interpret.attribution import saliency
from cnnkit.interpret.dream import dream
from cnnkit.interpret.fooling import fool
from cnnkit.interpret.maximize import maximize_classes
from cnnkit.interpret.subject import Subject, subject_from_model
from cnnkit.nn.base import CnnModel


def _tiny_model() -> CnnModel:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True))
    return CnnModel(features, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)))


def _info(classes: tuple[str, ...] = ("a", "b", "c")) -> DatasetInfo:
    return DatasetInfo("tiny", "image", (1, 8, 8), classes, (0.5,), (0.25,))


def test_subject_from_model_leaves_the_callers_model_trainable() -> None:
    model = _tiny_model().train()
    subject = subject_from_model(model, _info())
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert model.features[2].inplace  # the copy has in-place off, the original keeps it
    assert not subject.model.training and not subject.model.features[2].inplace
    with torch.no_grad():
        model.features[0].weight.add_(1.0)  # training the original does not move the copy
    assert not torch.equal(model.features[0].weight, subject.model.features[0].weight)


def test_numeric_class_names_are_names_first() -> None:
    subject = subject_from_model(_tiny_model(), _info(("30", "50", "0")))
    assert subject.class_index("50") == 1  # the class called "50", not index 50
    assert subject.class_index("0") == 2  # the name wins over index 0
    assert subject.class_index(0) == 0  # a Python int is always an index
    with pytest.raises(CnnkitError, match="out of range"):
        subject.class_index(30)


CALLS: dict[str, Callable[[Subject, torch.Tensor], object]] = {
    "saliency-smoothgrad": lambda s, x: saliency(s, x, method="smoothgrad", samples=4),
    "maximize": lambda s, x: maximize_classes(s, [1], steps=3, prior="pixels"),
    "dream": lambda s, x: dream(s, x.float() / 255, layer="features.2", octaves=2, steps=2),
    "pgd": lambda s, x: attack(s, x.float().unsqueeze(0) / 255, method="pgd", eps=8, steps=2),
    "fool": lambda s, x: fool(s, [1], steps=3, tries=1),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_leak_of_rng_state_or_thread_count(name: str) -> None:
    subject = subject_from_model(_tiny_model(), _info())
    image = torch.randint(0, 256, (1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    threads = torch.get_num_threads()
    rng = torch.random.get_rng_state()
    CALLS[name](subject, image)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng)


def _misclassified(subject: Subject) -> int:
    part = subject.dataset_split("test")
    predicted = subject.probabilities(subject.to_input(part.x)).argmax(1)
    wrong = (predicted != part.y).nonzero().flatten()
    assert len(wrong), "the fixture model is perfect on its test split"
    return int(wrong[0])


def test_adversarial_refuses_an_image_already_misclassified(
    digits_run: Path, digits_subject: Subject, run_cli, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    index = _misclassified(digits_subject)
    code, _, err = run_cli(["interpret", "adversarial", digits_run, f"test:{index}", "-o", tmp_path / "a.png"])
    assert code == 2 and err.startswith("error:") and "already misclassified" in err and len(err.splitlines()) == 1


def test_adversarial_refuses_a_target_already_predicted(
    digits_run: Path, digits_subject: Subject, run_cli, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    x, _ = digits_subject.read_image("test:0")
    predicted = int(digits_subject.probabilities(digits_subject.to_input(x)).argmax())
    code, _, err = run_cli(["interpret", "adversarial", digits_run, "test:0", "--target", predicted,
                            "-o", tmp_path / "a.png"])
    assert code == 2 and "already predicted" in err


def test_adversarial_attacks_the_true_class_of_a_dataset_image(
    digits_run: Path, digits_subject: Subject, run_cli, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    import json

    code, out, err = run_cli(["interpret", "adversarial", digits_run, "test:0", "--eps", 64, "--json",
                              "-o", tmp_path / "a.png"])
    assert code == 0, err
    data = json.loads(out)
    assert data["before"]["class"] == data["true_class"]
    assert data["success"] == (data["after"]["class"] != data["true_class"])


def test_fool_errors_are_one_line(digits_run: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(["interpret", "fool", digits_run, "--class", "eleven"])
    assert code == 2 and out == "" and err.startswith("error:") and len(err.splitlines()) == 1


def test_converted_image_files_are_reported(digits_run: Path, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image

    path = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((40, 30, 4), np.uint8)).save(path)
    code, _, err = run_cli(["interpret", "saliency", digits_run, path, "-o", tmp_path / "s.png"])
    assert code == 0
    assert f"note: {path}: 30x40 RGBA, converted to 1x16x16 grey" in err


def test_the_library_logs_conversions_instead_of_printing(digits_run: Path, tmp_path: Path,
                                                          capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    import numpy as np
    from PIL import Image

    from cnnkit.interpret.subject import open_subject

    path = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((40, 30, 4), np.uint8)).save(path)
    with caplog.at_level(logging.INFO, logger="cnnkit"):
        open_subject(digits_run).load_image(path)
    assert [r.getMessage() for r in caplog.records] == [f"{path}: 30x40 RGBA, converted to 1x16x16 grey as the model expects"]
    assert capsys.readouterr().err == ""  # nothing printed by the library itself
