"""Run directories: save and reload a model exactly, without pickle, with clear errors."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from runfactory import SPEC, make_run, tiny_info, tiny_model
from safetensors import safe_open
from safetensors.torch import save_file

import cnnkit
from cnnkit.errors import RunError
from cnnkit.train.run import (
    FORMAT_VERSION,
    METADATA_KEY,
    ModelMetadata,
    RunDir,
    load_run,
    unwrap,
)


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module, shape: tuple[int, ...]) -> bool:
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def test_spec_model_round_trip(tmp_path: Path) -> None:
    run, model, info = make_run(tmp_path / "r")
    loaded = load_run(run.path)
    assert _same_outputs(model, loaded.model, (1, 8, 8))
    assert not loaded.model.training
    assert loaded.info == info and loaded.classes == ("cat", "dog", "bird")
    assert loaded.input_shape == (1, 8, 8)
    assert loaded.config["model"] == SPEC
    assert [m["epoch"] for m in loaded.metrics] == [1, 2, 3]
    # BN running statistics are buffers: they must come back too
    key = next(k for k in model.state_dict() if k.endswith("running_mean"))
    assert torch.equal(model.state_dict()[key], loaded.model.state_dict()[key])


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [("lenet5", {"in_channels": 1, "input_size": 28, "num_classes": 3}, (1, 28, 28)),
     ("resnet20", {"in_channels": 1, "num_classes": 3}, (1, 16, 16))],
)
def test_zoo_model_round_trip_keeps_builder_arguments(tmp_path: Path, name: str, kwargs: dict, shape: tuple) -> None:
    torch.manual_seed(0)
    model = cnnkit.build(name, **kwargs)
    info = tiny_info(shape=shape)
    meta = ModelMetadata.describe(model, info, builder_kwargs=kwargs)
    assert meta.architecture == name and meta.builder_kwargs == kwargs
    run = RunDir.create(tmp_path / name)
    run.write_config({"model": name})
    run.save_model(model, meta)
    assert _same_outputs(model, load_run(run.path).model, shape)


def test_replaced_classifier_is_recorded(tmp_path: Path) -> None:
    """After fine-tuning swaps the head, the run rebuilds with the new class count."""
    model = tiny_model()
    model.reset_classifier(5)
    run, _, _ = make_run(tmp_path / "r", model=model, info=tiny_info(classes=tuple("abcde")))
    loaded = load_run(run.path)
    assert loaded.metadata.builder_kwargs["num_classes"] == 5
    assert _same_outputs(model, loaded.model, (1, 8, 8))


def test_no_pickle_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, model, _ = make_run(tmp_path / "r")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a run must not unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    loaded = load_run(run.path)
    assert _same_outputs(model, loaded.model, (1, 8, 8))
    # The file is a plain safetensors file: an 8-byte header length, then a JSON header.
    raw = (run.path / "model.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    meta = json.loads(header["__metadata__"][METADATA_KEY])
    assert meta["format_version"] == FORMAT_VERSION and meta["architecture"] == SPEC
    assert meta["dataset"]["classes"] == ["cat", "dog", "bird"]


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    run, _, _ = make_run(tmp_path / "r")
    with pytest.raises(RunError, match=r"already holds a finished run; choose another run directory or delete the folder, "
                                       r"or train it for more epochs with `cnnkit train --resume .* --more N`"):
        RunDir.create(run.path)
    assert RunDir.create(run.path, exist_ok=True).finished
    (tmp_path / "empty").mkdir()
    RunDir.create(tmp_path / "empty")  # an empty folder is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="is a file"):
        RunDir.create(tmp_path / "file", exist_ok=True)
    unfinished = RunDir.create(tmp_path / "u")
    unfinished.write_config({})
    (unfinished.path / ".lock").touch()
    # stopped before its first epoch ended: nothing to resume, so the same command starts again
    assert RunDir.create(unfinished.path).unstarted
    (unfinished.path / "checkpoint.safetensors").write_bytes(b"x")  # an epoch was saved
    with pytest.raises(RunError, match=r"already holds an unfinished run; continue it with `cnnkit train --resume .*`, "
                                       "or choose another run directory or delete the folder"):
        RunDir.create(unfinished.path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("x")  # a folder of the user's own files
    with pytest.raises(RunError, match="notes already holds other files, not a run; choose another run directory"):
        RunDir.create(tmp_path / "notes")


def test_append_metrics_replaces_repeated_epochs(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r")
    for epoch, acc in ((1, 0.1), (2, 0.2), (3, 0.3), (2, 0.25)):  # resumed after epoch 1
        run.append_metrics({"epoch": epoch, "val_acc": acc})
    assert run.read_metrics() == [{"epoch": 1, "val_acc": 0.1}, {"epoch": 2, "val_acc": 0.25}]
    lines = (run.path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == run.read_metrics()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), max_size=12))
def test_append_metrics_matches_a_simple_model(tmp_path_factory: pytest.TempPathFactory, epochs: list[int]) -> None:
    run = RunDir.create(tmp_path_factory.mktemp("m"))
    expected: list[dict] = []
    for step, epoch in enumerate(epochs):
        record = {"epoch": epoch, "step": step}
        run.append_metrics(record)
        expected = [r for r in expected if r["epoch"] < epoch] + [record]
    assert run.read_metrics() == expected


def test_corrupt_metrics_line(tmp_path: Path) -> None:
    run, _, _ = make_run(tmp_path / "r")
    with open(run.path / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 4, "val_')
    with pytest.raises(RunError, match="line 4 is not JSON"):
        load_run(run.path)


def test_missing_things(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no run directory at .*runs/NAME"):
        load_run(tmp_path / "nope")
    (tmp_path / "other").mkdir()  # a folder with nothing of a run in it
    with pytest.raises(RunError, match="other is not a run directory"):
        load_run(tmp_path / "other")
    run = RunDir.create(tmp_path / "killed")
    run.write_config({"model": SPEC})
    with pytest.raises(RunError, match=r"no model.safetensors: the run did not finish.*--resume"):
        load_run(run.path)
    done, _, _ = make_run(tmp_path / "done")
    (done.path / "config.json").unlink()
    with pytest.raises(RunError, match="config.json is missing"):
        load_run(done.path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights(tmp_path: Path, damage: str) -> None:
    run, _, _ = make_run(tmp_path / "r")
    path = run.path / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) - 100], "garbage": b"\x00not safetensors" * 10, "empty": b""}[damage])
    with pytest.raises(RunError, match="model.safetensors is corrupt or not a safetensors file"):
        load_run(run.path)


def _rewrite_metadata(run: RunDir, change: dict | None) -> None:
    """Re-save the weights with edited (or no) cnnkit metadata."""
    path = run.path / "model.safetensors"
    state = run.load_weights()
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()[METADATA_KEY])
    if change is None:
        save_file(state, str(path))
        return
    meta.update(change)
    save_file(state, str(path), metadata={METADATA_KEY: json.dumps(meta)})


def test_foreign_and_newer_files(tmp_path: Path) -> None:
    run, _, _ = make_run(tmp_path / "r")
    _rewrite_metadata(run, {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(RunError, match="upgrade cnnkit"):
        load_run(run.path)
    _rewrite_metadata(run, {"format_version": 0})
    with pytest.raises(RunError, match="retrain the model with this cnnkit"):
        load_run(run.path)
    _rewrite_metadata(run, None)
    with pytest.raises(RunError, match="no cnnkit metadata"):
        load_run(run.path)


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    run, _, _ = make_run(tmp_path / "r")
    _rewrite_metadata(run, {"architecture": SPEC.replace("CONV(4", "CONV(6")})
    with pytest.raises(RunError, match=r"do not fit the rebuilt model \(wrong shape: features"):
        load_run(run.path)
    _rewrite_metadata(run, {"architecture": SPEC.replace("-> BN ", "")})
    with pytest.raises(RunError, match="unexpected: features.bn"):
        load_run(run.path)
    _rewrite_metadata(run, {"architecture": "resnet2"})
    with pytest.raises(RunError, match="cannot rebuild the run's model 'resnet2'.*did you mean 'resnet20'"):
        load_run(run.path)


def test_save_checks_and_refuses_plain_modules(tmp_path: Path) -> None:
    info = tiny_info()
    with pytest.raises(RunError, match="only models made by cnnkit.build"):
        ModelMetadata.describe(torch.nn.Linear(2, 3), info)
    model = tiny_model()
    meta = ModelMetadata.describe(model, info)
    meta.builder_kwargs["num_classes"] = 4  # a metadata that would not load later
    run = RunDir.create(tmp_path / "r")
    with pytest.raises(RunError, match="wrong shape"):
        run.save_model(model, meta)
    assert not run.finished


def test_unwrap_compiled_wrapper() -> None:
    model = tiny_model()

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self._orig_mod = model

    assert unwrap(Wrapper()) is model
    assert ModelMetadata.describe(Wrapper(), tiny_info()).architecture == SPEC


def test_a_detection_run_points_to_detect_commands(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    run = RunDir.create(tmp_path / "det")
    run.write_config({"model": "quicknet"})
    save_file({"w": torch.zeros(1)}, str(run.file("model.safetensors")), metadata={"cnnkit_detect": "{}"})
    with pytest.raises(RunError, match=r"is a detector run \(from `cnnkit detect train`\).*use `cnnkit detect eval`"):
        load_run(run.path)
