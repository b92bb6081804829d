"""Issue 13 item 4: the presets on small data. The batch shrinks so every epoch takes
several steps, the preset's learning rate follows it linearly, and a run that ends no
better than chance says why."""

from __future__ import annotations

import math

import pytest
from cnnkit.train.config import PRESETS, TrainConfig
from cnnkit.train.prepare import MIN_BATCH, MIN_STEPS_PER_EPOCH, fit_batch_to_data, load_splits
from cnnkit.train.report import chance_note
from cnnkit.train.trainer import train


@pytest.mark.parametrize("train_size", [108, 300, 1294, 5000])
@pytest.mark.parametrize("world", [1, 2])
def test_a_small_training_set_gets_a_batch_with_several_steps_an_epoch(train_size: int, world: int) -> None:
    config = TrainConfig.from_preset("fast")
    adapted, note = fit_batch_to_data(config, train_size, world)
    # the loop drops the last partial batch; the batch never goes below MIN_BATCH (batch norm)
    assert train_size // adapted.batch_size >= min(MIN_STEPS_PER_EPOCH, train_size // MIN_BATCH)
    assert adapted.batch_size >= MIN_BATCH
    assert adapted.batch_size % world == 0
    assert adapted.lr == pytest.approx(PRESETS["fast"]["lr"] * adapted.batch_size / PRESETS["fast"]["batch_size"])
    assert note is not None and f"batch size 512 -> {adapted.batch_size}" in note and f"lr 0.4 -> " in note


def test_a_batch_that_fits_is_kept_and_a_given_lr_stays() -> None:
    config = TrainConfig.from_preset("fast")
    assert fit_batch_to_data(config, 512 * MIN_STEPS_PER_EPOCH) == (config, None)
    given = TrainConfig.from_preset("fast", lr=0.05)
    adapted, note = fit_batch_to_data(given, 300)
    assert adapted.lr == 0.05 and note is not None and "lr 0.05 kept" in note


def test_the_fast_preset_learns_a_few_hundred_digits(tmp_path, run_cli) -> None:  # type: ignore[no-untyped-def]
    # Before: batch 512 over 300 samples was one step an epoch, and the run ended at ~9%.
    import json

    code, out, err = run_cli(["train", "--data", "digits", "--limit", "300", "--epochs", "3", "--device", "cpu",
                              "--out", tmp_path / "run", "--json"])  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    config = TrainConfig.from_preset("fast", data="digits", limit=300, device="cpu")
    expected, note = fit_batch_to_data(config, len(load_splits(config, config.model).train))
    assert result["config"]["batch_size"] == expected.batch_size < 512  # the trainer adapted the preset's batch
    assert result["config"]["lr"] == pytest.approx(expected.lr)
    assert note in result["notes"] and note in (tmp_path / "run" / "report.md").read_text()
    assert result["test_accuracy"] >= 0.8 and result["warning"] is None  # chance is 10%


def test_a_run_no_better_than_chance_says_so_in_its_last_line(tmp_path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(["train", "--data", "digits", "--limit", "200", "--epochs", "1", "--lr", "1e-9",
                              "--device", "cpu", "--out", tmp_path / "run"])  # fmt: skip
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("warning: test accuracy ") and "no better than chance (10.0% for 10 classes)" in last


def _records(losses: list[float], steps: int) -> list[dict[str, float]]:
    return [{"epoch": i + 1, "val_loss": loss, "step": steps * (i + 1) // len(losses)} for i, loss in enumerate(losses)]


def test_no_better_than_chance_names_the_likely_cause() -> None:
    config = {"lr": 0.4, "batch_size": 512}
    assert chance_note(0.9, 10, config, _records([2.3, 0.3], 40)) is None
    few = chance_note(0.2, 3, config, _records([1.1, 1.1, 1.1], 3))
    assert few is not None and few.startswith("warning: test accuracy 20.0% is no better than chance (33.3% for 3 classes)")
    assert "only 3 optimizer steps" in few and "--epochs" in few
    blown = chance_note(0.1, 10, config, _records([2.3, 8698.0], 400))
    assert blown is not None and "learning rate 0.4 is likely too high" in blown and "--lr 0.04" in blown
    assert "too high" in (chance_note(0.1, 10, config, _records([2.3, math.nan], 400)) or "")
    # falling, but never near a guess's ln(10) = 2.3: the step size, not the number of steps
    huge = chance_note(0.1, 10, {"lr": 20.0, "batch_size": 18}, _records([1.2e7, 1.0e5, 563.5], 48))
    assert huge is not None and "learning rate 20 is likely too high" in huge
    # the batch is already the smallest the trainer picks: only more epochs can help
    small = chance_note(0.2, 3, {"lr": 0.01, "batch_size": 8}, _records([1.1, 1.1], 4))
    assert small is not None and small.endswith("train longer with --epochs")


@pytest.mark.parametrize(
    ("spec", "note"),
    [
        ("INPUT(1x8x8) -> CONV(4, k=3) -> FC(10)", "the spec's last layer FC(10) is trained as FC(3): blobs has 3 classes"),
        ("INPUT(1x8x8) -> CONV(4, k=3) -> FC(units=10)", "the spec's last layer FC(10) is trained as FC(3): blobs has 3 classes"),
        ("INPUT(1x8x8) -> CONV(4, k=3) -> FC(3)", None),  # already right
        ("INPUT(1x8x8) -> CONV(4, k=3) -> FC", None),  # a bare FC takes the class count by design
    ],
)
def test_a_resized_last_layer_is_noted(spec: str, note: str | None) -> None:
    # Issue 13 item 14: FC(10) on a 3-class set was silently trained as FC(3).
    from tinydata import tiny_info

    from cnnkit.train.prepare import build_model, head_note, spec_as_trained

    config = TrainConfig(model=spec)
    info = tiny_info(classes=3)
    assert head_note(config, info) == note
    model, _ = build_model(config, info)
    assert model.output_shape == (3,)
    if spec.endswith(")"):  # units written out: the shown text alone builds the trained model
        rebuilt = __import__("cnnkit").build(spec_as_trained(spec, 3))
        assert [tuple(p.shape) for p in rebuilt.parameters()] == [tuple(p.shape) for p in model.parameters()]


def test_cli_batch_size_without_lr_scales_the_presets_lr(tmp_path, run_cli) -> None:  # type: ignore[no-untyped-def]
    # Before: --batch-size 16 kept the fast preset's 0.4 (meant for 512) and the run blew up.
    import json

    code, out, _ = run_cli(["train", "--data", "digits", "--limit", "100", "--epochs", "1", "--batch-size", "16",
                            "--device", "cpu", "--out", tmp_path / "run", "--json"])
    assert code == 0
    config = json.loads(out)["config"]
    assert config["batch_size"] == 16
    assert config["lr"] == pytest.approx(PRESETS["fast"]["lr"] * 16 / PRESETS["fast"]["batch_size"])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["lr"] == config["lr"]  # the run records the lr it trained with
