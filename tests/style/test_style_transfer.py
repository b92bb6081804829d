"""The optimization: the loss falls, a seed fixes the result, J is assembled as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnkit.errors import CnnkitError
from cnnkit.style.costs import (
    StyleTarget,
    content_cost,
    layer_style_cost,
    total_variation,
)
from cnnkit.style.extractor import FeatureExtractor
from cnnkit.style.images import read_pixels
from cnnkit.style.objective import StyleObjective, style_layer_weights
from cnnkit.style.transfer import style_transfer


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_total_loss_falls(tiny: FeatureExtractor, pictures: dict[str, Path], optimizer: str) -> None:
    result = style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=32, steps=15,
                            optimizer=optimizer, init="noise", seed=0)  # fmt: skip
    totals = [h["total"] for h in result.history]
    assert len(totals) == 16  # one per step, then the final image
    assert totals[-1] < 0.5 * totals[0]
    assert result.final["style"] < result.start["style"]
    assert result.pixels.shape == (1, 3, 21, 32)  # 48x32 content, longer side 32
    assert 0 <= float(result.pixels.min()) and float(result.pixels.max()) <= 1


def test_from_content_the_style_cost_falls_and_content_starts_at_zero(
    tiny: FeatureExtractor, pictures: dict[str, Path]
) -> None:
    result = style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=32, steps=10)
    assert result.start["content"] == 0.0
    assert result.final["style"] < 0.5 * result.start["style"]
    assert result.final["total"] < result.start["total"]


def test_same_seed_same_picture(tiny: FeatureExtractor, pictures: dict[str, Path]) -> None:
    def run(seed: int) -> torch.Tensor:
        return style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=24, steps=5,
                              init="noise", seed=seed).pixels  # fmt: skip

    first, again, other = run(7), run(7), run(8)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_seed_fixes_random_weights_too(pictures: dict[str, Path], offline: Path) -> None:
    spec = "INPUT(3x16x16) -> [CONV(4, k=3, p=same) -> RELU -> POOL(2)]*2 -> FC(2)"

    def run(seed: int) -> torch.Tensor:
        return style_transfer(pictures["content"], pictures["style"], model=spec, allow_random_weights=True,
                              size=24, steps=3, seed=seed).pixels  # fmt: skip

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_objective_is_alpha_content_plus_beta_style_plus_tv(tiny: FeatureExtractor, pictures: dict[str, Path]) -> None:
    c = read_pixels(pictures["content"], size=32)
    s = read_pixels(pictures["style"], size=32)
    objective = StyleObjective.create(tiny, c, s, content_layer="conv2_2", style_layers="conv1_1:3,conv2_1",
                                      alpha=2.0, beta=5.0, tv=0.1)  # fmt: skip
    g = torch.rand_like(c)
    total, parts = objective(g)
    with torch.no_grad():
        a_c, a_s, a_g = (tiny(x, ["conv2_2", "conv1_1", "conv2_1"]) for x in (c, s, g))
    j_content = float(content_cost(a_c["conv2_2"], a_g["conv2_2"]))
    j_style = 0.75 * float(layer_style_cost(a_s["conv1_1"], a_g["conv1_1"])) + 0.25 * float(
        layer_style_cost(a_s["conv2_1"], a_g["conv2_1"])
    )
    j_tv = float(total_variation(g))
    assert parts["content"] == pytest.approx(j_content, rel=1e-5)
    assert parts["style"] == pytest.approx(j_style, rel=1e-5)
    assert parts["tv"] == pytest.approx(j_tv, rel=1e-5)
    assert float(total) == pytest.approx(2 * j_content + 5 * j_style + 0.1 * j_tv, rel=1e-5)


def test_auto_beta_balances_the_blank_image(tiny: FeatureExtractor, pictures: dict[str, Path]) -> None:
    c = read_pixels(pictures["content"], size=32)
    s = read_pixels(pictures["style"], size=32)
    objective = StyleObjective.create(tiny, c, s, alpha=3.0, balance=4.0)
    with torch.no_grad():
        a_c = tiny(c, [tiny.layers.default_content])[tiny.layers.default_content]
        a_s = tiny(s, list(tiny.layers.default_style))
    r_content = 0.5 * float(a_c.pow(2).sum())
    weight = 1 / len(a_s)
    r_style = sum(weight * float(layer_style_cost(a, torch.zeros_like(a))) for a in a_s.values())
    assert objective.beta == pytest.approx(4.0 * 3.0 * r_content / r_style, rel=1e-5)
    # a blank image (all activations zero) is then `balance` times further from the style
    assert objective.beta * r_style == pytest.approx(4.0 * 3.0 * r_content, rel=1e-5)
    assert StyleTarget.from_activations(a_s["conv1_1"]).positions == a_s["conv1_1"].shape[2] * a_s["conv1_1"].shape[3]


def test_style_layer_weights_text() -> None:
    assert style_layer_weights("conv1_1:3, conv2_1", ()) == {"conv1_1": 0.75, "conv2_1": 0.25}
    assert style_layer_weights(None, ("a", "b")) == {"a": 0.5, "b": 0.5}
    assert style_layer_weights({"a": 2, "b": 2}, ()) == {"a": 0.5, "b": 0.5}
    with pytest.raises(CnnkitError, match="must be a number"):
        style_layer_weights("conv1_1:heavy", ())
    with pytest.raises(CnnkitError, match="empty"):
        style_layer_weights(" , ", ())
    with pytest.raises(CnnkitError, match=">= 0"):
        style_layer_weights("a:-1,b:2", ())


def test_bad_layer_names_fail_before_any_work(tiny: FeatureExtractor, pictures: dict[str, Path]) -> None:
    with pytest.raises(CnnkitError, match=r"spec model \(random weights\) has no layer 'conv2_9' \(did you mean 'conv2_2'\?\)"):
        style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=32, steps=1,
                       style_layers="conv1_1,conv2_9")  # fmt: skip
    with pytest.raises(CnnkitError, match="no layer 'relu4_2'"):
        style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=32, steps=1,
                       content_layer="relu4_2")  # fmt: skip


def test_bad_choices(tiny: FeatureExtractor, pictures: dict[str, Path]) -> None:
    args = (pictures["content"], pictures["style"])
    with pytest.raises(CnnkitError, match="init .zeros. is not known; choose one of: content, noise"):
        style_transfer(*args, extractor=tiny, size=32, steps=1, init="zeros")
    with pytest.raises(CnnkitError, match="optimizer .* is not known.*choose one of: lbfgs, adam"):
        style_transfer(*args, extractor=tiny, size=32, steps=1, optimizer="sgd")
    with pytest.raises(CnnkitError, match="alpha must be a finite number >= 0"):
        style_transfer(*args, extractor=tiny, size=32, steps=1, alpha=-1)


def test_preserve_color_keeps_the_content_chroma(tiny: FeatureExtractor, pictures: dict[str, Path]) -> None:
    from cnnkit.style.color import rgb_to_ycbcr

    result = style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=32, steps=5,
                            preserve_color=True)  # fmt: skip
    chroma = rgb_to_ycbcr(result.pixels)[:, 1:]
    content_chroma = rgb_to_ycbcr(result.content)[:, 1:]
    # equal up to clamping at black and white
    assert (chroma - content_chroma).abs().mean() < 0.02


def test_grey_model_makes_grey_pictures_and_refuses_preserve_color(pictures: dict[str, Path]) -> None:
    from cnnkit.style.network import open_network

    subject, _ = open_network("INPUT(1x16x16) -> [CONV(4, k=3, p=same) -> RELU -> POOL(2)]*2 -> FC(2)",
                              allow_random_weights=True)  # fmt: skip
    grey = FeatureExtractor(subject)
    result = style_transfer(pictures["content"], pictures["style"], extractor=grey, size=24, steps=2)
    assert result.pixels.shape[1] == 1
    with pytest.raises(CnnkitError, match="needs a colour model"):
        style_transfer(pictures["content"], pictures["style"], extractor=grey, size=24, steps=1, preserve_color=True)


def test_result_save(tiny: FeatureExtractor, pictures: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    result = style_transfer(pictures["content"], pictures["style"], extractor=tiny, size=32, steps=0)
    assert torch.equal(result.pixels, result.content)  # zero steps: the content image itself
    path = result.save(tmp_path / "out.png")
    assert Image.open(path).size == (32, 21)
