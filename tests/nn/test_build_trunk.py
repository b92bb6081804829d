"""build_trunk: the `.features` of a zoo name, a spec or a model, for a new head."""

from __future__ import annotations

import torch
from torch import nn

import cnnkit
from cnnkit.nn.build import build_trunk


def test_zoo_name_gets_in_channels_and_gives_its_features() -> None:
    trunk = build_trunk("quicknet", in_channels=3, purpose="a head")
    reference = cnnkit.build("quicknet", in_channels=3).features
    assert [type(m) for m in trunk.modules()] == [type(m) for m in reference.modules()]
    assert trunk(torch.zeros(1, 3, 28, 28)).shape == reference(torch.zeros(1, 3, 28, 28)).shape


def test_spec_is_built_as_written() -> None:
    spec = "INPUT(2x16x16) -> CONV(4, k=3) -> RELU -> FC(3)"
    assert build_trunk(spec, in_channels=1, purpose="a head")(torch.zeros(1, 2, 16, 16)).shape == (1, 4, 14, 14)


def test_modules_pass_through() -> None:
    model = cnnkit.build("quicknet")
    assert build_trunk(model, in_channels=1, purpose="a head") is model.features
    plain = nn.Conv2d(1, 2, 3)
    assert build_trunk(plain, in_channels=1, purpose="a head") is plain
