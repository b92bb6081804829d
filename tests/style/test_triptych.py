"""--triptych: content | style | result in one PNG, each panel the picture itself, titled."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnkit.style.transfer import StyleResult
from cnnkit.style.triptych import caption, panels_figure, save_triptych

Call = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
SPEC = "INPUT(3x32x32) -> [CONV(8, k=3, p=same) -> RELU -> POOL(2)]*3 -> FC(10)"


def _result(pretrained: bool = False) -> StyleResult:
    gen = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 20, 30, generator=gen), torch.rand(1, 1, 24, 24, generator=gen)
    return StyleResult(pixels=torch.rand(1, 3, 20, 30, generator=gen), content=content, style=style,
                       history=[{"total": 1.0}], alpha=1.0, beta=1.0, content_layer="conv4_2",
                       style_layers={"conv1_1": 1.0}, model="vgg19 (torchvision)", pretrained=pretrained,
                       seconds=0.0, settings={"size": 30, "steps": 4})  # fmt: skip


def test_each_panel_is_its_picture_at_its_own_aspect_ratio() -> None:
    result = _result()
    panels = [(result.content, "content: a.png"), (result.style, "style: b.png"), (result.pixels, "result")]
    fig = panels_figure(panels, "note")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["content: a.png", "style: b.png", "result"]
    for ax, (pixels, _) in zip(axes, panels):
        expected = (pixels[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        shown = np.asarray(ax.images[0].get_array())
        np.testing.assert_array_equal(shown, expected[..., 0] if pixels.shape[1] == 1 else expected)
    ratios = fig.axes[0].get_gridspec().get_width_ratios()
    assert ratios == [30 / 20, 24 / 24, 30 / 20]


def test_caption_says_random_weights() -> None:
    assert caption(_result()) == "vgg19 with RANDOM weights (no pretrained weights); 30 px, 4 steps"
    assert caption(_result(pretrained=True)).startswith("vgg19 with ImageNet weights")


def test_save_writes_one_png(tmp_path: Path) -> None:
    path = save_triptych(_result(), tmp_path / "sub" / "t.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 2 * image.height  # three panels in a row


def test_cli_triptych_beside_the_result(run_cli: Call, pictures: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.png"
    args = ["style", pictures["content"], pictures["style"], "-o", out, "--size", "32", "--steps", "2",
            "--model", SPEC, "--allow-random-weights", "--quiet"]  # fmt: skip
    code, stdout, stderr = run_cli([*args, "--triptych"])
    assert code == 0, stderr
    side = tmp_path / "r-triptych.png"
    assert f"wrote {side} (content | style | result)" in stdout
    with Image.open(side) as image, Image.open(out) as result:
        assert image.format == "PNG" and image.width > 2 * result.width
    code, stdout, stderr = run_cli([*args, "-o", tmp_path / "j.png", "--json", "--triptych"])
    assert code == 0, stderr
    assert json.loads(stdout)["triptych"] == str(tmp_path / "j-triptych.png")
    code, stdout, _ = run_cli([*args, "-o", tmp_path / "plain.png", "--json"])
    assert json.loads(stdout)["triptych"] is None and not (tmp_path / "plain-triptych.png").exists()
