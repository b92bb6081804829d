"""Saliency maps against references: autograd by hand, Grad-CAM and occlusion written out,
integrated gradients' completeness, a planted region in a hand-wired model, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.interpret.attribution import (
    METHODS,
    default_gradcam_layer,
    occlusion_window,
    saliency,
)
from cnnkit.interpret.saliency_plot import saliency_figure
from rgb_subject import small_rgb_subject

from cnnkit.interpret.subject import Subject, conv_layer_names, subject_from_model
from cnnkit.nn.capture import capture


def _small_subject() -> Subject:
    return small_rgb_subject()


def _image(seed: int = 1, shape: tuple[int, ...] = (3, 8, 8)) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _logit(subject: Subject, x: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        return float(subject.model(x)[0, target])


@pytest.mark.parametrize("target", [None, 2])
def test_gradient_equals_autograd_input_gradient(target: int | None) -> None:
    subject = _small_subject()
    image = _image()
    x = subject.info.normalize(image.unsqueeze(0)).requires_grad_(True)
    logits = subject.model(x)
    index = int(logits.argmax()) if target is None else target
    logits[0, index].backward()
    expected = x.grad.abs().amax(1)[0]  # (H, W)
    got = saliency(subject, image, method="gradient", target=target)
    assert got.target == index and got.map.shape == (8, 8)
    torch.testing.assert_close(got.map, expected)
    torch.testing.assert_close(got.probabilities, torch.softmax(logits.detach()[0], 0))


def test_smoothgrad_without_noise_is_the_gradient_and_is_seeded() -> None:
    subject = _small_subject()
    image = _image()
    plain = saliency(subject, image, method="gradient")
    torch.testing.assert_close(saliency(subject, image, method="smoothgrad", noise=0.0, samples=2).map, plain.map)
    # deterministic under a seed, different for another, and the global RNG is left alone
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = saliency(subject, image, method="smoothgrad", seed=7, samples=8)
    assert torch.equal(torch.rand(3), before)
    again = saliency(subject, image, method="smoothgrad", seed=7, samples=8)
    other = saliency(subject, image, method="smoothgrad", seed=8, samples=8)
    assert torch.equal(first.map, again.map)
    assert not torch.allclose(first.map, other.map)
    assert (first.map >= 0).all()


def test_integrated_gradients_completeness() -> None:
    subject = _small_subject()
    image = _image(seed=4)
    got = saliency(subject, image, method="integrated-gradients", target=1, steps=128, baseline="black")
    x = subject.to_input(image)
    black = subject.info.normalize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    difference = _logit(subject, x, 1) - _logit(subject, black, 1)
    assert abs(difference) > 0.01  # the check below means something
    assert float(got.map.sum()) == pytest.approx(difference, rel=0.02, abs=1e-3)
    assert got.signed and got.details["steps"] == 128


def test_gradcam_matches_the_formula(digits_subject: Subject) -> None:
    """Grad-CAM written out: ReLU(sum_k mean(dy/dA_k) A_k), bilinearly upsampled."""
    image, _ = digits_subject.read_image("test:3")
    layer = default_gradcam_layer(digits_subject)
    # the default: the trunk's last child whose output is still a map, found by running
    # the children of `features` one after the other
    h = torch.zeros(1, 1, 16, 16)
    last = None
    for name, child in digits_subject.model.features.named_children():
        h = child(h)
        if h.dim() == 4 and min(h.shape[2:]) > 1:
            last = f"features.{name}"
    assert layer == last and layer not in conv_layer_names(digits_subject.model)
    got = saliency(digits_subject, image, method="gradcam", target=5)
    x = digits_subject.to_input(image)
    with torch.enable_grad():
        logits, outputs = capture(digits_subject.model, {layer: digits_subject.layer(layer)}, x.requires_grad_(True))
        activation = outputs[layer]
        (grad,) = torch.autograd.grad(logits[0, 5], activation)
    cam = F.relu((grad.mean((2, 3), keepdim=True) * activation).sum(1, keepdim=True))
    expected = F.interpolate(cam, size=(16, 16), mode="bilinear", align_corners=False)[0, 0]
    assert got.layer == layer
    torch.testing.assert_close(got.map, expected.detach(), atol=1e-5, rtol=1e-4)


def test_occlusion_matches_covering_by_hand() -> None:
    """Non-overlapping 4x4 black squares: each pixel's value is the logit drop of its square."""
    subject = _small_subject()
    image = _image(seed=2)
    got = saliency(subject, image, method="occlusion", target=3, window=4, stride=4, baseline="black")
    x = subject.to_input(image)
    black = subject.info.normalize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    for top in (0, 4):
        for left in (0, 4):
            covered = x.clone()
            covered[..., top:top + 4, left:left + 4] = black[..., top:top + 4, left:left + 4]
            drop = _logit(subject, x, 3) - _logit(subject, covered, 3)
            block = got.map[top:top + 4, left:left + 4]
            torch.testing.assert_close(block, torch.full_like(block, drop), atol=1e-5, rtol=1e-4)


def test_default_occlusion_window_scales_with_the_image() -> None:
    assert occlusion_window(28, 28) == (4, 2)
    assert occlusion_window(224, 224) == (32, 16)
    assert occlusion_window(8, 8) == (3, 1)


# ---- a planted region: class 1 only sees bright pixels in the top-left quadrant --------
class _TopLeft(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x)
        mask[..., : x.shape[-2] // 2, : x.shape[-1] // 2] = 1
        return x * mask


def _planted_subject() -> Subject:
    detector = nn.Conv2d(1, 1, 3, padding=1)  # local mean brightness minus 0.5
    nn.init.constant_(detector.weight, 1 / 9)
    nn.init.constant_(detector.bias, -0.5)
    identity = nn.Conv2d(1, 1, 1)  # the last conv (Grad-CAM's default layer), 8x8 output
    nn.init.constant_(identity.weight, 1.0)
    nn.init.zeros_(identity.bias)
    head = nn.Linear(1, 2)  # class 0: a constant; class 1: the bright area in the quadrant
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[0.0], [10.0]]))
        head.bias.copy_(torch.tensor([0.2, 0.0]))
    model = nn.Sequential(detector, nn.ReLU(), _TopLeft(), nn.MaxPool2d(2), identity, nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    info = DatasetInfo("planted", "image", (1, 16, 16), ("none", "corner"), (0.0,), (1.0,))
    return subject_from_model(model, info, name="planted")


def _planted_image() -> torch.Tensor:
    image = torch.zeros(1, 16, 16, dtype=torch.uint8)
    image[:, 2:6, 2:6] = 255  # the planted patch, in the top-left quadrant
    image[:, 10:14, 10:14] = 255  # distractors elsewhere, just as bright
    image[:, 2:6, 10:14] = 255
    image[:, 11:15, 1:5] = 255
    return image


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_planted_region_is_highlighted(method: str) -> None:
    subject = _planted_subject()
    got = saliency(subject, _planted_image(), method=method, target=1)
    assert got.predicted == 1
    heat = got.map.clamp_min(0)
    row, col = divmod(int(heat.argmax()), 16)
    assert 2 <= row < 6 and 2 <= col < 6, (row, col)
    near = heat[0:8, 0:8].sum()  # the patch with a margin for the window or the upsampling
    assert float(near) >= 0.95 * float(heat.sum()) > 0


def test_every_method_gives_a_finite_map_and_a_figure(digits_subject: Subject) -> None:
    image, truth = digits_subject.read_image("test:0")
    row = [saliency(digits_subject, image, method=m, samples=4, steps=8) for m in METHODS]
    for attribution in row:
        assert attribution.map.shape == (16, 16) and torch.isfinite(attribution.map).all()
        assert attribution.summary(digits_subject.classes)["method"] == attribution.method
    fig = saliency_figure(digits_subject, [image, image], [row, row], refs=["test:0", "x"], true_classes=[truth, None])
    assert len([ax for ax in fig.axes if ax.images]) == 2 * 6  # plus one colour bar per map
    single = saliency_figure(digits_subject, [image], [[row[0]]])
    assert "gradient" in single._suptitle.get_text()


def test_errors_are_one_line_cnnkit_errors(digits_subject: Subject) -> None:
    image, _ = digits_subject.read_image("test:0")
    with pytest.raises(CnnkitError, match="out of range"):
        saliency(digits_subject, image, target=10)
    with pytest.raises(CnnkitError, match="not a class"):
        saliency(digits_subject, image, target="jacket")
    with pytest.raises(CnnkitError, match="no layer 'nope'"):
        saliency(digits_subject, image, method="gradcam", layer="nope")
    head = [n for n, m in digits_subject.model.named_modules() if isinstance(m, nn.Linear)][-1]
    with pytest.raises(CnnkitError, match="CxHxW map"):
        saliency(digits_subject, image, method="gradcam", layer=head)
    with pytest.raises(ShapeError, match="1x16x16"):
        saliency(digits_subject, _image(shape=(1, 15, 15)))
    with pytest.raises(ShapeError, match="one image at a time"):
        saliency(digits_subject, torch.stack([image, image]))
    with pytest.raises(CnnkitError, match="did you mean 'gradcam'"):
        saliency(digits_subject, image, method="gradcm")


@pytest.mark.parametrize("spelling", ["grad-cam", "Grad_CAM", "GradCAM"])
def test_the_method_in_any_spelling_gives_the_same_map(digits_subject: Subject, spelling: str) -> None:
    image = digits_subject.read_image("test:0")[0]
    same = saliency(digits_subject, image, method=spelling)
    plain = saliency(digits_subject, image, method="gradcam")
    assert torch.equal(same.map, plain.map)
