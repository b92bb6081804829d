"""The localization target vector, its loss, landmark order under mirroring, the model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.detect.scene_compose import LANDMARK_NAMES
from cnnkit.detect.localize import (
    LocalizeLossWeights,
    build_localizer,
    decode_vectors,
    encode_targets,
    localize_loss,
)  # fmt: skip
from cnnkit.detect.localize_fit import augment, mirror_order
from cnnkit.detect.sample import Targets
from cnnkit.errors import DataError, ShapeError


def _corners(box: list[float]) -> torch.Tensor:
    """(1, 5, 2) centre + corners clockwise from the top left, written out by hand."""
    x1, y1, x2, y2 = box
    return torch.tensor([[[(x1 + x2) / 2, (y1 + y2) / 2], [x1, y1], [x2, y1], [x2, y2], [x1, y2]]])


def _one(box: list[float], label: int) -> Targets:
    return Targets(torch.tensor([box]), torch.tensor([label]), _corners(box))


box_strategy = st.tuples(st.floats(0, 50), st.floats(0, 30), st.floats(1, 14), st.floats(1, 30)).map(
    lambda v: [v[0], v[1], v[0] + v[2], v[1] + v[3]])


@settings(max_examples=40, deadline=None)
@given(box=box_strategy, label=st.integers(0, 2))
def test_encode_matches_the_lecture_formulas_and_decodes_back(box: list[float], label: int) -> None:
    h, w = 48, 64
    y = encode_targets([_one(box, label)], image_size=(h, w), num_classes=3, num_landmarks=5)
    x1, y1, x2, y2 = box
    expected = [1.0, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (y2 - y1) / h, (x2 - x1) / w]
    expected += [1.0 if c == label else 0.0 for c in range(3)]
    expected += [v for x, yy in _corners(box)[0].tolist() for v in (x / w, yy / h)]
    assert torch.allclose(y[0], torch.tensor(expected), atol=1e-5)
    back = decode_vectors(y, image_size=(h, w), num_classes=3, num_landmarks=5, logits=False)
    assert torch.allclose(back.boxes[0], torch.tensor(box), atol=1e-3)
    assert torch.allclose(back.landmarks, _corners(box), atol=1e-3)
    assert int(back.labels[0]) == label and float(back.p_object[0]) == 1.0


def test_empty_image_is_all_zeros_and_bad_targets_are_refused() -> None:
    empty = Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, 5, 2))
    y = encode_targets([empty], image_size=(32, 32), num_classes=4, num_landmarks=5)
    assert y.shape == (1, 5 + 4 + 10) and not y.any()
    two = Targets(torch.tensor([[0.0, 0, 4, 4], [5, 5, 9, 9]]), torch.tensor([0, 1]))
    with pytest.raises(DataError, match="one object or none"):
        encode_targets([two], image_size=(32, 32), num_classes=4, num_landmarks=0)
    with pytest.raises(DataError, match="class 7"):
        encode_targets([_one([0, 0, 4, 4], 7)], image_size=(32, 32), num_classes=4, num_landmarks=5)
    with pytest.raises(ShapeError):
        decode_vectors(torch.zeros(2, 7), image_size=(32, 32), num_classes=4, num_landmarks=5)


def _explicit_loss(out: torch.Tensor, y: torch.Tensor, n: int, w: LocalizeLossWeights) -> torch.Tensor:
    """The formula in the module docstring, one image at a time."""
    total = torch.zeros(())
    for o, t in zip(out, y):
        p = torch.sigmoid(o[0])
        term = -w.p_object * (t[0] * torch.log(p) + (1 - t[0]) * torch.log(1 - p))
        if t[0] == 1:
            term = term + w.box * ((o[1:5] - t[1:5]) ** 2).sum()
            term = term - w.classes * torch.log_softmax(o[5 : 5 + n], 0)[t[5 : 5 + n].argmax()]
            term = term + w.landmarks * ((o[5 + n :] - t[5 + n :]) ** 2).sum()
        total = total + term
    return total / len(out)


def test_loss_equals_the_explicit_sum() -> None:
    g = torch.Generator().manual_seed(3)
    targets = [_one([4, 6, 20, 30], 1), Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                                                 torch.zeros(0, 5, 2)), _one([10, 2, 40, 12], 2)]
    y = encode_targets(targets, image_size=(32, 48), num_classes=3, num_landmarks=5)
    out = torch.randn(3, y.shape[1], generator=g, dtype=torch.float64)
    for w in (LocalizeLossWeights(), LocalizeLossWeights(2.0, 3.0, 0.5, 7.0)):
        got = localize_loss(out, y.double(), num_classes=3, num_landmarks=5, weights=w)
        assert torch.allclose(got["loss"], _explicit_loss(out, y.double(), 3, w))
        assert torch.allclose(got["p_object"], F.binary_cross_entropy_with_logits(out[:, 0], y[:, 0].double()))


def test_p_c_zero_leaves_only_the_p_c_term_and_no_gradient_elsewhere() -> None:
    empty = Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, 5, 2))
    y = encode_targets([empty, empty], image_size=(32, 32), num_classes=3, num_landmarks=5)
    out = (torch.randn(2, y.shape[1]) * 5).requires_grad_()
    parts = localize_loss(out, y, num_classes=3, num_landmarks=5)
    parts["loss"].backward()
    assert torch.equal(out.grad[:, 1:], torch.zeros_like(out.grad[:, 1:]))
    assert (out.grad[:, 0] != 0).all()
    expected = F.binary_cross_entropy_with_logits(out[:, 0].detach(), torch.zeros(2))
    assert torch.allclose(parts["loss"], expected)


def test_mirror_keeps_every_landmark_on_its_named_point() -> None:
    assert mirror_order(LANDMARK_NAMES) == [0, 2, 1, 4, 3]
    assert mirror_order(("nose", "left_eye", "right_eye")) == [0, 2, 1]
    images = torch.randint(0, 256, (8, 1, 32, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    box = [5.0, 7.0, 17.0, 25.0]
    targets = [_one(box, 0) for _ in range(8)]
    out, moved = augment(images, targets, flip=True, shift=3, landmark_names=LANDMARK_NAMES,
                         generator=torch.Generator().manual_seed(1))
    flipped = 0
    for k, t in enumerate(moved):
        b = t.boxes[0].tolist()
        assert torch.allclose(t.landmarks, _corners(b))  # still centre, TL, TR, BR, BL of the moved box
        assert 0 <= b[0] and b[2] <= 40 and 0 <= b[1] and b[3] <= 32  # shifted, never out of view
        x1, y1, x2, y2 = (int(v) for v in b)
        crop = images[k, 0, 7:25, 5:17]
        got = out[k, 0, y1:y2, x1:x2]
        assert torch.equal(got, crop) or torch.equal(got, crop.flip(-1))
        flipped += int(not torch.equal(got, crop))
    assert 0 < flipped < 8


def test_model_output_size_and_trunk_errors() -> None:
    spec = "INPUT(1x32x32) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*2 -> FC(3)"
    model = build_localizer(spec, num_classes=3, num_landmarks=5, image_size=(32, 32), hidden=16)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 5 + 3 + 10)
    found = model.predict(torch.zeros(3, 1, 32, 32, dtype=torch.uint8))
    assert found.boxes.shape == (3, 4) and found.landmarks.shape == (3, 5, 2)
    assert (found.boxes[:, 2:] >= found.boxes[:, :2]).all()  # negative sizes are read as empty boxes
    with pytest.raises(ShapeError, match="cannot take"):
        build_localizer(spec, num_classes=3, num_landmarks=5, image_size=(2, 2))
