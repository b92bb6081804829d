"""Batched saliency equals one image at a time; Grad-CAM equals Captum's in one forward pass;
SmoothGrad against Captum on the stated noise; baselines against torchvision's blur."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.interpret.attribution import METHODS, default_gradcam_layer, saliency, saliency_maps
from cnnkit.interpret.baselines import blur_sigma, resolve_baseline
from cnnkit.interpret.saliency_plot import method_title, short_name
from rgb_subject import small_rgb_subject

from cnnkit.interpret.subject import Subject, subject_from_model


def _rgb_subject() -> Subject:
    return small_rgb_subject()


def _images(n: int = 3, shape: tuple[int, ...] = (3, 8, 8)) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))


def _logits(subject: Subject, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return subject.model(x)


@pytest.mark.parametrize("method", METHODS)
def test_a_batch_gives_each_image_its_own_map(digits_subject: Subject, method: str) -> None:
    images = torch.stack([digits_subject.read_image(f"test:{i}")[0] for i in range(3)])
    batch = saliency_maps(digits_subject, images, method=method, samples=6, steps=8)
    for image, got in zip(images, batch):
        alone = saliency(digits_subject, image, method=method, samples=6, steps=8)
        assert (got.target, got.predicted, got.layer) == (alone.target, alone.predicted, alone.layer)
        delta = got.details.pop("delta", 0.0)  # IG's convergence gap: a float sum, compared apart
        assert got.details == {k: v for k, v in alone.details.items() if k != "delta"}
        assert delta == pytest.approx(alone.details.get("delta", 0.0), rel=1e-3, abs=1e-5)
        torch.testing.assert_close(got.map, alone.map, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got.probabilities, alone.probabilities)


def test_gradcam_equals_captum_in_one_forward_pass(digits_subject: Subject) -> None:
    from captum.attr import LayerAttribution, LayerGradCam

    images = torch.stack([digits_subject.read_image(f"test:{i}")[0] for i in range(4)])
    calls = []
    handle = digits_subject.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        got = saliency_maps(digits_subject, images, method="gradcam")
    finally:
        handle.remove()
    assert len(calls) == 1  # the layer, the logits and the probabilities all come from it
    layer = default_gradcam_layer(digits_subject)
    x = digits_subject.to_input(images)
    targets = _logits(digits_subject, x).argmax(1)
    cam = LayerGradCam(digits_subject.model, digits_subject.layer(layer)).attribute(
        x, target=targets.tolist(), relu_attributions=True)
    expected = LayerAttribution.interpolate(cam, (16, 16), interpolate_mode="bilinear")[:, 0].clamp_min(0)
    for i, attribution in enumerate(got):
        assert attribution.layer == layer and attribution.target == int(targets[i])
        torch.testing.assert_close(attribution.map, expected[i].detach(), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(attribution.probabilities, torch.softmax(_logits(digits_subject, x)[i], 0))


def test_smoothgrad_is_captum_saliency_averaged_over_the_seeded_noise() -> None:
    from captum.attr import Saliency

    subject = _rgb_subject()
    images = _images(2)
    got = saliency_maps(subject, images, method="smoothgrad", seed=3, samples=5, noise=0.2, target=1)
    # the stated noise: 0.2 x (input of white - input of black), times a standard normal
    # (samples, C, H, W) drawn from torch.Generator().manual_seed(seed), the same for each image
    stdev = 0.2 * float((1 / torch.tensor(subject.info.std)).mean())
    draws = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    x = subject.to_input(images)
    for i in range(2):
        noisy = x[i : i + 1] + stdev * draws
        expected = Saliency(subject.model).attribute(noisy, target=1, abs=True).mean(0).amax(0)
        torch.testing.assert_close(got[i].map, expected, atol=1e-6, rtol=1e-5)


def test_blur_baseline_is_torchvision_gaussian_blur() -> None:
    subject = _rgb_subject()
    images = _images(1)
    pixels = images.float() / 255
    sigma = blur_sigma(8, 8)
    blurred = TF.gaussian_blur(pixels, kernel_size=[7, 7], sigma=[sigma, sigma])  # 2 * ceil(3 sigma) + 1
    # integrated gradients from the blur add up to f(x) - f(blur(x)), for the class the blur changes most
    x = subject.to_input(images)
    change = _logits(subject, x)[0] - _logits(subject, subject.pixels_to_input(blurred))[0]
    target = int(change.abs().argmax())
    difference = float(change[target])
    assert abs(difference) > 0.01  # the check below means something
    got = saliency(subject, images[0], method="integrated-gradients", baseline="blur", steps=200, target=target)
    assert float(got.map.sum()) == pytest.approx(difference, rel=0.02, abs=1e-3)
    assert got.details["baseline"] == "blur sigma 1"
    assert "from blur sigma 1" in method_title(got)


def test_mean_baseline_occlusion_covers_with_the_mean_colour() -> None:
    subject = _rgb_subject()
    images = _images(1)
    got = saliency(subject, images[0], method="occlusion", baseline="mean", window=4, stride=4, target=0)
    x = subject.to_input(images)
    mean = subject.pixels_to_input((images.float() / 255).mean(dim=(2, 3), keepdim=True).expand(1, 3, 8, 8))
    for top in (0, 4):
        for left in (0, 4):
            covered = x.clone()
            covered[..., top:top + 4, left:left + 4] = mean[..., top:top + 4, left:left + 4]
            drop = float(_logits(subject, x)[0, 0] - _logits(subject, covered)[0, 0])
            block = got.map[top:top + 4, left:left + 4]
            torch.testing.assert_close(block, torch.full_like(block, drop), atol=1e-5, rtol=1e-4)
    assert got.details["baseline"] == "image mean" and "by image mean" in method_title(got)


def test_auto_baseline_is_black_on_a_dark_background_and_blur_on_a_photo(digits_subject: Subject) -> None:
    from skimage import data

    digit = digits_subject.read_image("test:0")[0].float()[None] / 255
    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    assert resolve_baseline("auto", torch.cat([digit.expand(1, 3, 16, 16), photo[..., :16, :16]])) == ["black", "blur"]
    assert resolve_baseline("mean", photo) == ["mean"]
    got = saliency(digits_subject, digits_subject.read_image("test:0")[0], method="occlusion")
    assert got.details["baseline"] == "black"


def test_small_work_runs_on_one_thread_and_restores_the_count() -> None:
    subject = _rgb_subject()
    seen: list[int] = []
    handle = subject.model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        saliency_maps(subject, _images(2), method="gradient")
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
        handle.remove()


def test_image_titles_keep_the_file_name_and_its_end() -> None:
    assert short_name("test:23") == "test:23"
    assert short_name("/a/very/long/folder/name/cat.jpg") == "cat.jpg"
    name = short_name("/photos/astronaut_portrait_nasa_1984_original.png")
    assert len(name) == 22 and name.startswith("astronaut") and name.endswith(".png")


def test_smoothgrad_ig_is_captum_ig_averaged_over_the_seeded_noise() -> None:
    from captum.attr import IntegratedGradients

    subject = _rgb_subject()
    images = _images(2)
    got = saliency_maps(subject, images, method="integrated-gradients", ig_samples=4, noise=0.1, seed=2,
                        steps=16, baseline="black", target=3)
    stdev = 0.1 * float((1 / torch.tensor(subject.info.std)).mean())
    draws = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    x = subject.to_input(images)
    black = subject.pixels_to_input(torch.zeros(1, 3, 8, 8))
    for i in range(2):
        expected = torch.stack([
            IntegratedGradients(subject.model).attribute(x[i : i + 1] + stdev * d, baselines=black, target=3,
                                                         n_steps=16)[0]
            for d in draws
        ]).mean(0).sum(0)
        torch.testing.assert_close(got[i].map, expected, atol=1e-5, rtol=1e-4)
        assert got[i].details["samples"] == 4 and method_title(got[i]).startswith("SmoothGrad-IG x4\nfrom black")
