"""cnnkit.names: one rule for naming layers (unique suffixes) and choices (any spelling)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.names import choice_key, pick_choice, resolve_layer

MODULES = ["features", "features.conv1", "features.stage2", "features.stage2.conv1", "features.stage2.conv2",
           "features.stage3.conv1", "head", "head.fc"]  # fmt: skip


@pytest.mark.parametrize(
    "given_name, meant",
    [
        ("features.stage2.conv1", "features.stage2.conv1"),  # full names always
        ("stage2.conv1", "features.stage2.conv1"),
        ("conv2", "features.stage2.conv2"),
        ("conv1", "features.conv1"),  # the shallowest of several
        ("fc", "head.fc"),
        ("stage2", "features.stage2"),
    ],
)
def test_a_unique_suffix_names_a_layer(given_name: str, meant: str) -> None:
    assert resolve_layer(given_name, MODULES, where="net", listing="`cnnkit summary`") == meant


def test_ambiguous_and_unknown_layers_list_candidates() -> None:
    names = ["a.stage2.conv1", "b.stage2.conv1", "a.x"]
    with pytest.raises(CnnkitError, match=r"layer 'conv1' is ambiguous in net: a.stage2.conv1, b.stage2.conv1; give more"):
        resolve_layer("conv1", names, where="net", listing="`cnnkit summary`")
    with pytest.raises(CnnkitError, match=r"net has no layer 'conv3' \(did you mean .*\); `cnnkit summary` lists"):
        resolve_layer("conv3", MODULES, where="net", listing="`cnnkit summary`")
    with pytest.raises(CnnkitError, match="no layer 'onv1'"):  # a suffix must end at a dot
        resolve_layer("onv1", MODULES, where="net", listing="x")


@given(st.lists(st.from_regex(r"[a-z]{1,3}(\.[a-z0-9]{1,3}){0,3}", fullmatch=True), min_size=1, max_size=12, unique=True),
       st.data())  # fmt: skip
def test_every_suffix_that_is_unique_resolves_to_its_module(names: list[str], data: st.DataObject) -> None:
    full = data.draw(st.sampled_from(names))
    parts = full.split(".")
    suffix = ".".join(parts[data.draw(st.integers(0, len(parts) - 1)) :])
    matches = [n for n in names if n == suffix or n.endswith("." + suffix)]
    if suffix in names or len(matches) == 1:
        expected = suffix if suffix in names else matches[0]
        assert resolve_layer(suffix, names, where="m", listing="x") == expected


def test_names_of_a_real_model_resolve() -> None:
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    names = [n for n, _ in model.named_modules()]
    assert resolve_layer("0", names, where="m", listing="x") == "features.0"


@pytest.mark.parametrize("typed", ["grad-cam", "grad_cam", "GradCAM", "Grad CAM"])
def test_choices_in_any_spelling(typed: str) -> None:
    assert pick_choice(typed, ["gradient", "grad-cam", "occlusion"], what="--method") == "grad-cam"


@pytest.mark.parametrize("typed", ["semi-hard", "semi_hard", "Semi Hard", "SEMIHARD"])
def test_underscored_choices_take_hyphens(typed: str) -> None:
    assert pick_choice(typed, ["random", "semi_hard", "batch_hard"], what="--mining") == "semi_hard"


def test_an_unknown_choice_suggests_and_lists() -> None:
    with pytest.raises(CnnkitError, match=r"--mining 'semihrd' is not known \(did you mean 'semi_hard'\?\); choose one of: random, semi_hard"):
        pick_choice("semihrd", ["random", "semi_hard"], what="--mining")
    assert choice_key("Batch_All") == choice_key("batch-all") == "batchall"
