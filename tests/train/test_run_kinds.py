"""A run written by another command is named by the command that wrote it, wherever it is
given: classifier commands (load_run) and the detect/faces loaders (read_run_header)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cnnkit.cli.app import main
from cnnkit.errors import RunError
from cnnkit.train.run import load_run
from cnnkit.train.run_header import read_run_header


def _localizer_run(path: Path) -> Path:
    """A run folder as `cnnkit detect localize --out` writes it, by its own writer."""
    from cnnkit.detect.localize import build_localizer
    from cnnkit.detect.localize_fit import load_localizer, save_localizer

    path.mkdir()
    (path / "config.json").write_text('{"command": "detect localize"}')
    net = build_localizer("quicknet", num_classes=3, num_landmarks=5, image_size=(32, 32))
    save_localizer(net, str(path / "model.safetensors"), architecture="quicknet", image_size=(32, 32),
                   classes=["a", "b", "c"], landmark_names=[f"p{i}" for i in range(5)])
    load_localizer(str(path / "model.safetensors"))  # the file is a real, loadable localizer
    return path


def _faces_run(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text("{}")
    save_file({"w": torch.zeros(1)}, str(path / "model.safetensors"), metadata={"cnnkit_faces": "{}"})
    return path


def test_classifier_loader_names_faces_and_localizer_runs(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"face embedding run \(from `cnnkit faces train`\).*`cnnkit faces eval`"):
        load_run(_faces_run(tmp_path / "faces"))
    localizer = _localizer_run(tmp_path / "loc")
    with pytest.raises(RunError) as caught:
        load_run(localizer)
    message = str(caught.value)
    assert "localizer run (from `cnnkit detect localize`)" in message and "load_localizer" in message
    assert "unreadable" not in message and "\n" not in message


@pytest.mark.parametrize("key", ["cnnkit_detect", "cnnkit_faces"])
def test_other_loaders_do_not_call_a_localizer_a_classifier(tmp_path: Path, key: str) -> None:
    localizer = _localizer_run(tmp_path / "loc")
    with pytest.raises(RunError) as caught:
        read_run_header(localizer, key=key)
    message = str(caught.value)
    assert "localizer run" in message and "classifier" not in message and "cnnkit eval" not in message


def test_cli_commands_say_which_command_wrote_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faces, localizer = _faces_run(tmp_path / "faces"), _localizer_run(tmp_path / "loc")
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(image)
    for args, wanted in [
        (["predict", str(faces), str(image)], "cnnkit faces"),
        (["eval", str(faces)], "cnnkit faces"),
        (["interpret", "filters", str(faces)], "cnnkit faces"),
        (["predict", str(localizer), str(image)], "cnnkit detect localize"),
        (["detect", "eval", str(localizer)], "cnnkit detect localize"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main([*args, "--device", "cpu"] if args[0] != "detect" else args)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, (args, err)
        assert wanted in err, (args, err)
