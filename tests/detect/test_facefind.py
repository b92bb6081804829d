"""The face finder: the LFW subset's layout, the grey conversion against PIL, training to
high held-out accuracy, mined negatives the classifier really calls faces, random negatives
that are real windows of the photos, the test photos never trained or mined on, and a face
pasted into a picture found where it was put."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from cnnkit.detect.facefind import (
    NEGATIVE_PHOTOS,
    TEST_PHOTOS,
    FaceFinder,
    clutter_photos,
    find_faces,
    grey,
    load_lfw_subset,
    mine_hard_negatives,
    negative_photos,
    random_windows,
    train_face_finder,
)
from cnnkit.errors import DataError


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return train_face_finder(seed=0, mining_rounds=0, random_per_photo=0, steps=200)  # 2-3 s on one free core


def test_lfw_subset_faces_first() -> None:
    images, labels = load_lfw_subset()
    assert images.shape == (200, 1, 25, 25) and images.dtype == torch.uint8
    assert labels.tolist() == [1] * 100 + [0] * 100
    # each of the first 100 looks like the mean of the other 99 (a face template); the last 100 do not
    x = images.float()[:, 0]
    template_sum = x[:100].sum(0)

    def corr(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / (a.norm() * b.norm() + 1e-6))

    faces = torch.tensor([corr(x[k], (template_sum - x[k]) / 99) for k in range(100)])
    others = torch.tensor([corr(x[k], template_sum / 100) for k in range(100, 200)])
    assert faces.median() > 0.4 and others.median() < 0.1


def test_grey_matches_pil_luma() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    want = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255
    got = grey(rgb)
    assert got.shape == (1, 9, 7)
    assert np.abs(got[0].numpy() - want).max() <= 1 / 255 + 1e-6  # PIL rounds to uint8
    torch.testing.assert_close(grey(rgb[..., 0]), torch.from_numpy(rgb[..., 0]).float()[None] / 255)


@pytest.mark.slow
def test_classifier_learns_lfw_on_held_out_images(finder: FaceFinder) -> None:
    assert finder.holdout_accuracy >= 0.9
    assert finder.net.stride == 4 and finder.net.window == (25, 25) and finder.net.exact


@pytest.mark.slow
def test_mined_negatives_are_windows_the_classifier_calls_faces(finder: FaceFinder) -> None:
    gen = torch.Generator().manual_seed(0)
    photo = (torch.rand(1, 45, 61, generator=gen) * 255).round() / 255  # exact in uint8
    hard = mine_hard_negatives(finder.net, [photo], scales=[1.0], threshold=0.3, per_photo=10_000)
    assert hard.dtype == torch.uint8 and hard.shape[1:] == (1, 25, 25)
    # the reference: every stride-4 window cropped by hand and classified by the original model
    crops = torch.stack([photo[:, i : i + 25, j : j + 25] for i in range(0, 21, 4) for j in range(0, 37, 4)])
    with torch.no_grad():
        want = crops[finder.model(crops).softmax(1)[:, 1] > 0.3]
    assert len(hard) == len(want) > 0
    got = {tuple(c.flatten().tolist()) for c in hard}
    assert got == {tuple((c * 255).round().to(torch.uint8).flatten().tolist()) for c in want}


@pytest.mark.slow
def test_a_pasted_face_is_found_where_it_was_put(finder: FaceFinder) -> None:
    images, _labels = load_lfw_subset()
    face = images[0].float() / 255  # (1, 25, 25), a face the classifier trained on or not: either
    up = torch.nn.functional.interpolate(face[None], size=(50, 50), mode="bilinear", align_corners=False)[0]
    photo = torch.full((1, 120, 160), 0.5)
    photo[:, 40:90, 60:110] = up
    found = find_faces(finder, photo, scales=[1.0, 0.5], threshold=0.5, iou=0.3)
    assert len(found) >= 1
    truth = torch.tensor([[60.0, 40.0, 110.0, 90.0]])
    assert box_iou(found.boxes[:1], truth).item() >= 0.5
    assert found.labels.eq(1).all()


def test_test_photos_are_never_negatives() -> None:
    assert not set(NEGATIVE_PHOTOS) & set(TEST_PHOTOS)
    for name in TEST_PHOTOS:
        with pytest.raises(DataError, match="test photo"):
            negative_photos([name])


@pytest.mark.slow
def test_training_never_loads_the_test_photos(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.cbook
    from skimage import data

    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("a test photo was loaded while training")

    for name in ("astronaut", "camera"):
        monkeypatch.setattr(data, name, refuse)
    monkeypatch.setattr(matplotlib.cbook, "get_sample_data", refuse)  # Grace Hopper's home
    finder = train_face_finder(seed=0, steps=2, mining_rounds=1, random_per_photo=1, clutter=1)
    assert finder.hard_negatives >= 0 and len(finder.history) == 2


def test_random_windows_are_windows_of_the_pyramid() -> None:
    gen = torch.Generator().manual_seed(1)
    photo = (torch.rand(1, 31, 40, generator=gen) * 255).round() / 255  # exact in uint8
    crops = random_windows([photo], per_photo=20, scales=[1.0], generator=gen)
    assert crops.shape == (20, 1, 25, 25) and crops.dtype == torch.uint8
    every = {tuple((photo[0, i : i + 25, j : j + 25] * 255).round().to(torch.uint8).flatten().tolist())
             for i in range(31 - 24) for j in range(40 - 24)}  # all 7 * 16 windows, by hand
    assert all(tuple(c.flatten().tolist()) in every for c in crops)
    assert len({tuple(c.flatten().tolist()) for c in crops}) > 5  # places vary
    # a scale at which the window no longer fits gives nothing, not an error
    assert random_windows([photo], per_photo=3, scales=[0.5], generator=gen).shape == (0, 1, 25, 25)


def test_clutter_photos_are_seeded_grey_images() -> None:
    a, b, c = clutter_photos(2, size=64, seed=3), clutter_photos(2, size=64, seed=3), clutter_photos(2, size=64, seed=4)
    assert len(a) == 2 and all(p.shape == (1, 64, 64) and p.dtype == torch.float32 for p in a)
    assert all(0 <= float(p.min()) and float(p.max()) <= 1 and float(p.std()) > 0.02 for p in a)
    torch.testing.assert_close(a[0], b[0])
    assert not torch.equal(a[0], c[0])


def test_the_same_seed_gives_the_same_finder() -> None:
    # dropout draws from the global RNG; train_face_finder seeds it (and restores it after)
    state = torch.random.get_rng_state()
    a = train_face_finder(seed=3, steps=4, mining_rounds=0, random_per_photo=0)
    torch.manual_seed(123)  # a different global state before the second run changes nothing
    b = train_face_finder(seed=3, steps=4, mining_rounds=0, random_per_photo=0)
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    c = train_face_finder(seed=4, steps=4, mining_rounds=0, random_per_photo=0)
    first = next(iter(a.model.state_dict()))
    assert not torch.equal(a.model.state_dict()[first], c.model.state_dict()[first])
    torch.random.set_rng_state(state)
