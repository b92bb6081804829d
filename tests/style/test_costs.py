"""Content, style and total-variation costs against the lecture's formulas, written out."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import ShapeError
from cnnkit.style.costs import (
    StyleTarget,
    content_cost,
    layer_style_cost,
    reference_content_cost,
    style_cost,
    total_variation,
)


def acts(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def lecture_style_cost(s: torch.Tensor, g: torch.Tensor) -> float:
    """1 / (2 n_H n_W n_C)^2 * sum_k sum_k' (G(S)_kk' - G(G)_kk')^2, Grams by explicit sums."""
    _, c, h, w = s.shape
    total = 0.0
    for k in range(c):
        for k2 in range(c):
            gs = float((s[0, k] * s[0, k2]).sum())
            gg = float((g[0, k] * g[0, k2]).sum())
            total += (gs - gg) ** 2
    return total / (2 * h * w * c) ** 2


def test_content_cost_is_zero_when_g_equals_c() -> None:
    a = acts(1, 4, 5, 5)
    assert float(content_cost(a, a.clone())) == 0.0


def test_content_cost_formula() -> None:
    c, g = acts(1, 3, 4, 4, seed=1), acts(1, 3, 4, 4, seed=2)
    expected = 0.5 * sum(float(x - y) ** 2 for x, y in zip(c.flatten(), g.flatten()))
    assert float(content_cost(c, g)) == pytest.approx(expected, rel=1e-12)
    assert float(reference_content_cost(c)) == pytest.approx(float(content_cost(c, torch.zeros_like(c))))


def test_content_cost_needs_equal_shapes() -> None:
    with pytest.raises(ShapeError, match="same shape"):
        content_cost(acts(1, 3, 4, 4), acts(1, 3, 4, 5))


def test_style_cost_is_zero_when_g_equals_s() -> None:
    s = acts(1, 6, 5, 7)
    assert float(layer_style_cost(s, s.clone())) == 0.0
    assert float(layer_style_cost(StyleTarget.from_activations(s), s.clone())) == 0.0


@settings(max_examples=20, deadline=None)
@given(c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5), seed=st.integers(0, 500))
def test_style_cost_matches_the_lecture_normalization(c: int, h: int, w: int, seed: int) -> None:
    s, g = acts(1, c, h, w, seed=seed), acts(1, c, h, w, seed=seed + 1)
    assert float(layer_style_cost(s, g)) == pytest.approx(lecture_style_cost(s, g), rel=1e-9, abs=1e-15)


def test_style_cost_of_a_tiled_style_image_is_zero() -> None:
    """A style image twice the size made of four copies has the same Gram matrix per
    position, so the size-aware normalization gives zero against the original."""
    g = acts(1, 3, 4, 5)
    big = g.repeat(1, 1, 2, 2)  # (1, 3, 8, 10)
    assert float(layer_style_cost(big, g)) == pytest.approx(0.0, abs=1e-12)


def test_style_cost_sums_layers_with_their_weights() -> None:
    s = {"a": acts(1, 2, 3, 3, seed=1), "b": acts(1, 4, 2, 2, seed=2)}
    g = {"a": acts(1, 2, 3, 3, seed=3), "b": acts(1, 4, 2, 2, seed=4)}
    targets = {k: StyleTarget.from_activations(v) for k, v in s.items()}
    weights = {"a": 0.25, "b": 0.75}
    expected = 0.25 * lecture_style_cost(s["a"], g["a"]) + 0.75 * lecture_style_cost(s["b"], g["b"])
    assert float(style_cost(targets, g, weights)) == pytest.approx(expected, rel=1e-9)


def test_style_reference_is_the_cost_of_zero_activations() -> None:
    s = acts(1, 3, 4, 4)
    target = StyleTarget.from_activations(s)
    assert float(target.reference_cost()) == pytest.approx(float(layer_style_cost(target, torch.zeros_like(s))))


def test_style_cost_needs_matching_channels() -> None:
    with pytest.raises(ShapeError, match="channels"):
        layer_style_cost(acts(1, 3, 4, 4), acts(1, 4, 4, 4))


def test_total_variation_formula() -> None:
    x = acts(1, 2, 3, 4)
    expected = 0.0
    for ch in range(2):
        for i in range(3):
            for j in range(4):
                if i + 1 < 3:
                    expected += float(x[0, ch, i + 1, j] - x[0, ch, i, j]) ** 2
                if j + 1 < 4:
                    expected += float(x[0, ch, i, j + 1] - x[0, ch, i, j]) ** 2
    assert float(total_variation(x)) == pytest.approx(expected, rel=1e-12)
    assert float(total_variation(torch.full((1, 3, 5, 5), 0.3))) == 0.0
