"""Checkpoints: a restored model and optimizer continue exactly; files are atomic and safe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnnkit
from cnnkit.errors import RunError
from cnnkit.train.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint

SPEC = "INPUT(1x8x8) -> CONV(4, k=3) -> BN -> RELU -> GAP -> FC(3)"


def make(optimizer: str, seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = cnnkit.build(SPEC)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.99))
    return model, opt


def steps(model: torch.nn.Module, opt: torch.optim.Optimizer, count: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(count):
        x = torch.randn(4, 1, 8, 8, generator=gen)
        y = torch.randint(0, 3, (4,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_restored_run_continues_exactly(tmp_path: Path, optimizer: str) -> None:
    model, opt = make(optimizer)
    steps(model, opt, 3, seed=1)
    state = {"epoch": 2, "metrics": [{"epoch": 1, "val_acc": 0.5}], "best": None, "gen": torch.arange(5, dtype=torch.uint8)}
    save_checkpoint(tmp_path, model, opt, state)

    fresh, fresh_opt = make(optimizer, seed=99)  # different initial weights
    loaded = load_checkpoint(tmp_path, fresh, fresh_opt)
    assert loaded is not None
    assert loaded["epoch"] == 2 and loaded["metrics"] == state["metrics"] and loaded["best"] is None
    assert torch.equal(loaded["gen"], state["gen"])
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)

    steps(model, opt, 2, seed=2)  # the uninterrupted run
    steps(fresh, fresh_opt, 2, seed=2)  # the resumed one
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def test_no_checkpoint_means_none(tmp_path: Path) -> None:
    model, opt = make("sgd")
    assert load_checkpoint(tmp_path, model, opt) is None


def test_written_atomically_and_replaced_whole(tmp_path: Path) -> None:
    model, opt = make("sgd")
    save_checkpoint(tmp_path, model, opt, {"epoch": 1})
    first = (tmp_path / CHECKPOINT).read_bytes()
    steps(model, opt, 1, seed=3)
    save_checkpoint(tmp_path, model, opt, {"epoch": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]  # no temporary files left
    assert (tmp_path / CHECKPOINT).read_bytes() != first
    assert load_checkpoint(tmp_path, *make("sgd"))["epoch"] == 2


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, opt = make("sgd")
    save_checkpoint(tmp_path, model, opt, {"epoch": 1})

    import safetensors.torch

    def crash(tensors, filename, metadata=None):  # dies half-way through writing
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, model, opt, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path, *make("sgd"))["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]


def test_damaged_or_foreign_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    model, opt = make("sgd")
    (tmp_path / CHECKPOINT).write_bytes(b"\x00" * 64)
    with pytest.raises(RunError, match="damaged.*delete it"):
        load_checkpoint(tmp_path, model, opt)

    save_checkpoint(tmp_path, model, opt, {"epoch": 1})
    other = cnnkit.build("INPUT(1x8x8) -> CONV(6, k=3) -> RELU -> GAP -> FC(3)")
    with pytest.raises(RunError, match="does not fit this model"):
        load_checkpoint(tmp_path, other, None)


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    model, opt = make("adamw")
    steps(model, opt, 1, seed=0)
    save_checkpoint(tmp_path, model, opt, {"epoch": 1})

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert load_checkpoint(tmp_path, *make("adamw"))["epoch"] == 1
