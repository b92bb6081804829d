"""PixelStats: buffers that travel in the state dict, and standardization by the formula."""

from __future__ import annotations

import torch

from cnnkit.nn.pixel_stats import PixelStats


class _Model(PixelStats):
    def __init__(self) -> None:
        super().__init__()
        self.register_pixel_stats(3)


def test_uint8_and_float_images_standardize_alike() -> None:
    model = _Model()
    model.mean.copy_(torch.tensor([0.1, 0.5, 0.9]))
    model.std.copy_(torch.tensor([0.2, 0.3, 0.4]))
    raw = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    expected = (raw.float() / 255 - model.mean.view(1, 3, 1, 1)) / model.std.view(1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(raw), expected)
    torch.testing.assert_close(model.normalize(raw.float() / 255), expected)


def test_statistics_are_saved_with_the_weights() -> None:
    model = _Model()
    model.mean.fill_(0.3)
    other = _Model()
    other.load_state_dict(model.state_dict())
    assert set(model.state_dict()) == {"mean", "std"}
    torch.testing.assert_close(other.mean, torch.full((3,), 0.3))
