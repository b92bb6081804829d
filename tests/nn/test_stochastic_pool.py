"""StochasticPool1d/2d/3d against explicit per-region formulas, torch's pooling shapes,
the sampling probabilities (chi-square), and autograd."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import CnnkitError
from cnnkit.nn.layers import StochasticPool1d, StochasticPool2d, StochasticPool3d

POOLS = {1: StochasticPool1d, 2: StochasticPool2d, 3: StochasticPool3d}
MAX_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def reference_regions(x: torch.Tensor, k: int, s: int, p: int) -> dict[tuple[int, ...], torch.Tensor]:
    """Every pooling region of one (C=1 squeezed) sample, cut out by explicit slicing.

    x: (*S) spatial only. Returns {output index: flat region values} after zero padding.
    """
    xp = F.pad(x, [p] * (2 * x.dim()))
    sizes = [(n + 2 * p - k) // s + 1 for n in x.shape]
    out = {}
    for idx in itertools.product(*(range(o) for o in sizes)):
        sl = tuple(slice(i * s, i * s + k) for i in idx)
        out[idx] = xp[sl].reshape(-1)
    return out


@settings(max_examples=30, deadline=None)
@given(
    dims=st.sampled_from([1, 2, 3]),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    extra=st.integers(0, 3),
    pad_frac=st.integers(0, 1),
    batched=st.booleans(),
)
def test_shape_matches_torch_max_pool(dims: int, k: int, s: int, extra: int, pad_frac: int, batched: bool) -> None:
    p = pad_frac * (k // 2)  # torch's max pooling allows padding up to half the kernel
    n = k + extra
    shape = (2, 3) + (n,) * dims if batched else (3,) + (n,) * dims
    x = torch.rand(shape)
    pool = POOLS[dims](k, s, p)
    expected = MAX_POOLS[dims](x, k, s, p).shape
    assert pool(x).shape == expected
    pool.eval()
    assert pool(x).shape == expected


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_eval_equals_explicit_formula(dims: int) -> None:
    g = torch.Generator().manual_seed(dims)
    n, k, s, p = 5, 2, 2, 1
    x = torch.rand((1, 1) + (n,) * dims, generator=g, dtype=torch.float64) - 0.2  # some negatives
    pool = POOLS[dims](k, s, p).eval()
    y = pool(x)[0, 0]
    for idx, region in reference_regions(x[0, 0], k, s, p).items():
        a = region.clamp(min=0)
        expected = (a * a).sum() / a.sum() if a.sum() > 0 else torch.tensor(0.0, dtype=a.dtype)
        torch.testing.assert_close(y[idx], expected)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1))
def test_training_pick_is_a_value_of_its_region(seed: int, k: int, s: int, p: int) -> None:
    g = torch.Generator().manual_seed(seed)
    # Integers with many zeros and a few negatives: ties and empty regions are common.
    x = torch.randint(-1, 4, (1, 1, 6, 5), generator=g).double()
    pool = StochasticPool2d(k, s, p, generator=g)
    y = pool(x)[0, 0]
    for idx, region in reference_regions(x[0, 0], k, s, p).items():
        a = region.clamp(min=0)
        if a.sum() == 0:
            assert y[idx] == 0
        else:
            # Only cells with positive probability can be drawn.
            assert y[idx].item() in set(a[a > 0].tolist())


def test_pick_frequencies_match_probabilities() -> None:
    # One 2x2 region [[1, 2], [3, 4]] tiled 4000 times: p = a / 10.
    region = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    copies = 4000
    x = region.repeat(1, copies).reshape(1, 1, 2, 2 * copies)
    pool = StochasticPool2d(2, generator=torch.Generator().manual_seed(1234))
    y = pool(x).flatten()
    observed = torch.stack([(y == v).sum() for v in (1.0, 2.0, 3.0, 4.0)]).double()
    assert observed.sum() == copies  # every output is one of the four values
    expected = copies * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64) / 10
    statistic = float(((observed - expected) ** 2 / expected).sum())
    assert chi2_sf_df3(statistic) > 0.001


def chi2_sf_df3(x: float) -> float:
    """P(X > x) for a chi-square variable with 3 degrees of freedom (closed form)."""
    return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)


def test_chi2_closed_form_matches_known_critical_value() -> None:
    # Tables give 16.266 as the 0.999 quantile of chi-square with 3 degrees of freedom.
    assert chi2_sf_df3(16.266) == pytest.approx(0.001, rel=1e-3)


def test_negative_and_zero_cells_are_never_drawn() -> None:
    region = torch.tensor([-5.0, 0.0, 2.0, -1.0])
    x = region.repeat(500).reshape(1, 1, 2000)
    y = StochasticPool1d(4, generator=torch.Generator().manual_seed(0))(x)
    assert torch.all(y == 2.0)


def test_generator_makes_sampling_reproducible() -> None:
    x = torch.rand(2, 3, 8, 8)
    a = StochasticPool2d(2, generator=torch.Generator().manual_seed(7))(x)
    b = StochasticPool2d(2)(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_eval_gradcheck_double() -> None:
    g = torch.Generator().manual_seed(0)
    for dims, pool in POOLS.items():
        # Strictly positive: the clamp at 0 is not differentiable there.
        x = (torch.rand((1, 2) + (4,) * dims, generator=g, dtype=torch.float64) + 0.1).requires_grad_()
        layer = pool(2, 1, 1).eval()
        assert torch.autograd.gradcheck(layer, (x,))


def test_training_gradient_goes_to_exactly_the_picked_cell() -> None:
    g = torch.Generator().manual_seed(3)
    # Distinct positive values so that each output identifies its cell.
    x = (torch.randperm(64, generator=g).double() + 1).reshape(1, 1, 8, 8).requires_grad_()
    y = StochasticPool2d(2, generator=g)(x)
    y.sum().backward()
    grad = x.grad[0, 0]
    for i, j in itertools.product(range(4), range(4)):
        block_x = x.detach()[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        block_g = grad[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        assert block_g.sum() == 1 and (block_g == 1).sum() == 1
        assert block_x[block_g == 1].item() == y[0, 0, i, j].item()


def test_all_zero_region_outputs_zero_with_finite_gradient() -> None:
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 2:, 2:] = torch.tensor([[1.0, 3.0], [0.0, 2.0]])  # one region non-zero
    x[0, 0, 0, 2] = -1.0  # a region of zeros and a negative: also "empty"
    for training in (True, False):
        xi = x.clone().requires_grad_()
        pool = StochasticPool2d(2, generator=torch.Generator().manual_seed(0)).train(training)
        y = pool(xi)
        assert torch.isfinite(y).all()
        assert y[0, 0, 0, 0] == 0 and y[0, 0, 0, 1] == 0 and y[0, 0, 1, 0] == 0
        y.sum().backward()
        assert torch.isfinite(xi.grad).all()
    pool.eval()
    assert pool(x)[0, 0, 1, 1].item() == pytest.approx((1 + 9 + 4) / 6)


def test_bad_arguments_and_inputs_raise_cnnkit_errors() -> None:
    with pytest.raises(CnnkitError, match="kernel_size"):
        StochasticPool2d(0)
    with pytest.raises(CnnkitError, match="stride"):
        StochasticPool2d(2, (1, 1, 1))
    with pytest.raises(CnnkitError, match="4-D input"):
        StochasticPool2d(2)(torch.rand(4, 4))
    with pytest.raises(CnnkitError, match="larger than the padded input"):
        StochasticPool2d(5)(torch.rand(1, 1, 3, 3))
    with pytest.raises(TypeError):
        StochasticPool2d(2, gen=None)  # type: ignore[call-arg]
