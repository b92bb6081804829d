"""Regularizers against explicit formulas and torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import CnnkitError
from cnnkit.interpret import regularize as R


def test_total_variation_matches_explicit_sum() -> None:
    x = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(1))
    for power in (1.0, 2.0):
        got = R.total_variation(x, power=power)
        for n in range(2):
            down = sum(abs(float(x[n, c, i + 1, j] - x[n, c, i, j])) ** power
                       for c in range(3) for i in range(4) for j in range(6)) / (3 * 4 * 6)
            right = sum(abs(float(x[n, c, i, j + 1] - x[n, c, i, j])) ** power
                        for c in range(3) for i in range(5) for j in range(5)) / (3 * 5 * 5)
            assert got[n].item() == pytest.approx(down + right, rel=1e-5)


def test_total_variation_of_constant_is_zero() -> None:
    assert torch.all(R.total_variation(torch.full((1, 1, 4, 4), 0.3)) == 0)


@pytest.mark.parametrize("sigma,size", [(0.5, 3), (1.0, 7), (1.7, 11), (2.0, 5)])
def test_blur_matches_torchvision(sigma: float, size: int) -> None:
    x = torch.rand(2, 3, 16, 13, generator=torch.Generator().manual_seed(2))
    ours = R.gaussian_blur(x, sigma, kernel_size=size)
    theirs = TF.gaussian_blur(x, [size, size], [sigma, sigma])
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_blur_default_kernel_and_small_images() -> None:
    x = torch.rand(1, 1, 20, 20, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(R.gaussian_blur(x, 1.0), TF.gaussian_blur(x, [7, 7], [1.0, 1.0]), atol=1e-5, rtol=1e-5)
    tiny = torch.rand(1, 1, 3, 3)
    assert R.gaussian_blur(tiny, 2.0).shape == tiny.shape  # kernel clipped to fit
    with pytest.raises(CnnkitError):
        R.gaussian_kernel1d(0.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(-6, 6), st.integers(-6, 6))
def test_roll_inverts_and_moves_pixels(dy: int, dx: int) -> None:
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7)
    y = R.roll(x, dy, dx)
    assert torch.equal(R.roll(y, -dy, -dx), x)
    assert y[0, 1, dy % 5, dx % 7] == x[0, 1, 0, 0]


def test_random_shift_is_seeded_and_bounded() -> None:
    a = [R.random_shift(2, generator=torch.Generator().manual_seed(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    g = torch.Generator().manual_seed(0)
    shifts = [R.random_shift(2, generator=g) for _ in range(200)]
    assert {s for pair in shifts for s in pair} == {-2, -1, 0, 1, 2}
    assert R.random_shift(0) == (0, 0)


def test_l2_and_centre_penalties() -> None:
    x = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(R.l2_penalty(x, centre=0.5), ((x - 0.5) ** 2).mean(dim=(1, 2, 3)))
    centre_dot = torch.zeros(1, 1, 5, 5)
    centre_dot[0, 0, 2, 2] = 1.0
    corner_dot = torch.zeros(1, 1, 5, 5)
    corner_dot[0, 0, 0, 0] = 1.0
    assert R.centre_penalty(centre_dot).item() == 0.0
    assert R.centre_penalty(corner_dot).item() == pytest.approx(1.0 / 25)


def test_roll_each_shifts_every_image_like_torch_roll() -> None:
    x = torch.arange(3 * 2 * 5 * 4, dtype=torch.float32).view(3, 2, 5, 4)
    shifts = torch.tensor([[1, -2], [0, 0], [-3, 5]])
    got = R.roll_each(x, shifts)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        assert torch.equal(got[i], torch.roll(x[i], shifts=(dy, dx), dims=(1, 2)))


def test_adam_is_torch_optim_adam() -> None:
    from cnnkit.interpret.adam import Adam

    start = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    ours, theirs = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    mine, reference = Adam(ours, lr=0.05), torch.optim.Adam([theirs], lr=0.05)
    for step in range(30):
        for p, opt in ((ours, mine), (theirs, reference)):
            opt.zero_grad()
            ((p - 1.5) ** 4 * (1 + step % 3)).sum().backward()
            opt.step()
    torch.testing.assert_close(ours, theirs)
