"""TrainConfig: presets, overrides, JSON round trip, and clear errors for bad values."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import CnnkitError
from cnnkit.train.config import DEFAULT_MODEL, PRESETS, TrainConfig


def test_defaults_are_valid_and_default_model_builds() -> None:
    import cnnkit

    config = TrainConfig()
    assert config.model == DEFAULT_MODEL
    model = cnnkit.build(config.model, num_classes=10, in_channels=1)
    import torch

    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_values_then_overrides(name: str) -> None:
    config = TrainConfig.from_preset(name, epochs=2)
    assert config.preset == name
    assert config.epochs == 2
    for key, value in PRESETS[name].items():
        if key != "epochs":
            assert getattr(config, key) == value


def test_json_round_trip() -> None:
    config = TrainConfig.from_preset("best", input_shape=(3, 32, 32), augment_options={"cutout": 8})
    text = json.dumps(config.to_dict())
    again = TrainConfig.from_dict(json.loads(text))
    assert again == config
    assert again.input_shape == (3, 32, 32)


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(CnnkitError, match="did you mean 'epochs'"):
        TrainConfig.from_dict({"epochz": 3})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optimizer": "adamm"}, "did you mean 'adamw'"),
        ({"schedule": "cosin"}, "did you mean 'cosine'"),
        ({"epochs": 0}, "epochs must be a whole number >= 1"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": float("inf")}, "lr must be a finite number > 0.0, got inf"),
        ({"batch_size": 2.5}, "batch_size must be a whole number"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"device": "tpu"}, "device 'tpu' is not known"),
        ({"augment_options": {"cutuot": 4}}, "did you mean 'cutout'"),
    ],
)
def test_bad_values_say_what_to_do(overrides: dict, message: str) -> None:
    with pytest.raises(CnnkitError, match=message):
        TrainConfig.from_preset("fast", **overrides)


def test_unknown_preset() -> None:
    with pytest.raises(CnnkitError, match="did you mean 'fast'"):
        TrainConfig.from_preset("fats")


@settings(max_examples=40, deadline=None)
@given(
    epochs=st.integers(1, 500),
    lr=st.floats(1e-6, 10.0, allow_nan=False),
    batch_size=st.integers(1, 4096),
    optimizer=st.sampled_from(["sgd", "adamw"]),
    schedule=st.sampled_from(["onecycle", "cosine", "constant"]),
    limit=st.one_of(st.none(), st.integers(1, 10**6)),
)
def test_round_trip_any_valid_config(epochs, lr, batch_size, optimizer, schedule, limit) -> None:
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, schedule=schedule, limit=limit)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_new_batch_size_scales_the_presets_lr_linearly(name: str) -> None:
    preset = PRESETS[name]
    config = TrainConfig.from_preset(name, batch_size=16)
    assert config.lr == pytest.approx(preset["lr"] * 16 / preset["batch_size"])  # the linear scaling rule
    assert config.lr_reference_batch == preset["batch_size"]
    # the same rule when the batch is changed later, e.g. by the trainer for a small set
    later = TrainConfig.from_preset(name).replace(batch_size=16)
    assert later.lr == pytest.approx(config.lr)
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))  # a saved run does not rescale
    assert again.lr == config.lr


def test_an_lr_the_user_gives_is_never_scaled() -> None:
    config = TrainConfig.from_preset("fast", batch_size=16, lr=0.4)
    assert config.lr == 0.4 and config.lr_reference_batch is None
    assert config.replace(batch_size=8).lr == 0.4
    assert TrainConfig().replace(batch_size=16).lr == TrainConfig().lr  # no preset: no reference batch


@pytest.mark.parametrize(
    "given_values, stored",
    [
        ({"optimizer": "AdamW"}, {"optimizer": "adamw"}),
        ({"schedule": "one-cycle"}, {"schedule": "onecycle"}),
        ({"channels_last": "ON"}, {"channels_last": "on"}),
        ({"device": "CUDA:1"}, {"device": "cuda:1"}),
        ({"augment": "Strong"}, {"augment": "strong"}),
    ],
)
def test_choices_in_any_spelling_are_stored_canonically(given_values: dict, stored: dict) -> None:
    config = TrainConfig(**given_values)
    assert {k: getattr(config, k) for k in stored} == stored


def test_an_unknown_choice_names_the_flag_at_the_cli(cli_error) -> None:
    assert cli_error(["train", "--optimizer", "adamm"]) == (
        "error: --optimizer 'adamm' is not known (did you mean 'adamw'?); choose one of: sgd, adamw"
    )
