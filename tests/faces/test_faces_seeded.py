"""The same --seed gives the same face run on the CPU, and no faces code touches torch's global RNG."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnkit.faces.embed import build_embedder
from cnnkit.faces.fit import EmbedFitConfig, fit_embedder
from cnnkit.faces.identities import IdentitySet
from cnnkit.nn.seeded_layers import SeededDropout, seed_stochastic_layers

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
TINY = ["--data", "digits:0-6", "--per-identity", "12", "--epochs", "2", "--p", "4", "--k", "3", "--dim", "8",
        "--pairs", "20"]
DROPOUT_TRUNK = "INPUT(1x8x8) -> CONV(6, k=3, p=1) -> RELU -> DROPOUT(p=0.5) -> CONV(6, k=3, p=1) -> RELU"


def _without_times(records: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "train_seconds")} for r in records]


def _train(run_cli: Cli, out: Path, seed: str = "3") -> tuple[dict[str, torch.Tensor], list[dict], dict]:
    code, _, err = run_cli(["faces", "train", *TINY, "--seed", seed, "--out", out])
    assert code == 0, err
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    result = json.loads((out / "metrics.json").read_text())
    return load_file(str(out / "model.safetensors")), _without_times(metrics), _without_times([result])[0]


def test_two_faces_train_runs_with_one_seed_are_identical(tmp_path: Path, run_cli: Cli) -> None:
    torch.rand(7)  # the global generator is somewhere else before each run: it must not matter
    first = _train(run_cli, tmp_path / "a")
    torch.rand(11)
    second = _train(run_cli, tmp_path / "b")
    assert first[0].keys() == second[0].keys()
    for name, value in first[0].items():
        assert torch.equal(value, second[0][name]), name
    assert first[1] == second[1] and first[2] == second[2]
    _train(run_cli, tmp_path / "c", seed="4")
    other = load_file(str(tmp_path / "c" / "model.safetensors"))
    assert any(not torch.equal(v, other[k]) for k, v in first[0].items())  # another seed, other weights


def test_build_embedder_draws_its_weights_from_the_generator() -> None:
    def weights(seed: int) -> dict[str, torch.Tensor]:
        return build_embedder("quicknet", dim=8, image_size=(8, 8), generator=torch.Generator().manual_seed(seed)
                              ).state_dict()

    torch.rand(5)
    a = weights(1)
    torch.rand(5)
    b, c = weights(1), weights(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_seeded_dropout_is_the_dropout_formula_on_the_generators_draws() -> None:
    x = torch.arange(1.0, 25.0).view(2, 3, 2, 2)
    out = SeededDropout(0.25, torch.Generator().manual_seed(5))(x)
    keep = torch.rand(x.shape, generator=torch.Generator().manual_seed(5)) >= 0.25
    assert torch.equal(out, x * keep / 0.75)
    channel = SeededDropout(0.5, torch.Generator().manual_seed(6), channels=True)(x)
    keep = torch.rand(2, 3, 1, 1, generator=torch.Generator().manual_seed(6)) >= 0.5
    assert torch.equal(channel, x * keep / 0.5)  # whole channels, like nn.Dropout2d
    layer = SeededDropout(0.25, torch.Generator())
    assert torch.equal(layer.eval()(x), x)  # eval mode: nothing dropped, nothing scaled


def test_fit_with_dropout_in_the_trunk_is_reproducible() -> None:
    g = torch.Generator().manual_seed(0)
    data = IdentitySet(torch.randint(0, 256, (24, 1, 8, 8), generator=g, dtype=torch.uint8),
                       torch.arange(4).repeat_interleave(6), ("a", "b", "c", "d"), "random")
    config = EmbedFitConfig(epochs=2, p=4, k=3, seed=9)

    def trained() -> dict[str, torch.Tensor]:
        net = build_embedder(DROPOUT_TRUNK, dim=4, image_size=(8, 8), generator=torch.Generator().manual_seed(0))
        torch.rand(3)  # moves the global generator between the two fits
        fit_embedder(net, data, config)
        assert not any(type(m) is torch.nn.Dropout for m in net.modules())
        return net.state_dict()

    a, b = trained(), trained()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_seed_stochastic_layers_replaces_dropout_and_keeps_the_state_dict() -> None:
    net = build_embedder(DROPOUT_TRUNK, dim=4, image_size=(8, 8))
    keys = net.state_dict().keys()
    assert seed_stochastic_layers(net, torch.Generator()) == 1
    assert net.state_dict().keys() == keys
    with pytest.raises(Exception, match="AlphaDropout"):
        seed_stochastic_layers(torch.nn.Sequential(torch.nn.AlphaDropout(0.1)), torch.Generator())
