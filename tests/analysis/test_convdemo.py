"""explain_conv against torch.nn.functional.conv2d, explicit slicing and a hand calculation."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnkit.analysis.convdemo import explain_conv
from cnnkit.analysis.convdemo_text import render_walkthrough
from cnnkit.errors import CnnkitError, ShapeError


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    c, n_f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    k_h, k_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding, dilation = draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(c=c, n_f=n_f, h=h, w=w, k_h=k_h, k_w=k_w, stride=stride, padding=padding, dilation=dilation, seed=seed)


def random_values(case: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(case["c"], case["h"], case["w"], generator=g, dtype=torch.float64)
    w = torch.randn(case["n_f"], case["c"], case["k_h"], case["k_w"], generator=g, dtype=torch.float64)
    b = torch.randn(case["n_f"], generator=g, dtype=torch.float64)
    return x, w, b


def fits(case: dict) -> bool:
    d, p = case["dilation"], case["padding"]
    return d * (case["k_h"] - 1) + 1 <= case["h"] + 2 * p and d * (case["k_w"] - 1) + 1 <= case["w"] + 2 * p


@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_output_and_channel_sums_match_conv2d(case: dict) -> None:
    x, w, b = random_values(case)
    opts = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    if not fits(case):
        with pytest.raises(ShapeError, match="larger than the padded"):
            explain_conv(x, w, b, **opts)
        return
    walk = explain_conv(x, w, b, **opts)
    torch.testing.assert_close(walk.output, F.conv2d(x[None], w, b, **opts)[0])
    # Each channel's partial sums are the convolution of that channel alone, without bias.
    for ch in range(case["c"]):
        alone = F.conv2d(x[None, ch : ch + 1], w[:, ch : ch + 1], None, **opts)[0]
        torch.testing.assert_close(walk.channel_sums[..., ch], alone)


@settings(max_examples=25, deadline=None)
@given(case=conv_cases())
def test_every_cell_adds_up_and_sees_the_right_window(case: dict) -> None:
    assume(fits(case))
    x, w, b = random_values(case)
    s, p, d = case["stride"], case["padding"], case["dilation"]
    walk = explain_conv(x, w, b, stride=s, padding=p, dilation=d)
    padded = F.pad(x, [p, p, p, p])
    n_f, h_out, w_out = walk.output.shape
    for f in range(n_f):
        for i in range(h_out):
            for j in range(w_out):
                cell = walk.cell(f, i, j)
                rows = slice(i * s, i * s + d * (case["k_h"] - 1) + 1, d)
                cols = slice(j * s, j * s + d * (case["k_w"] - 1) + 1, d)
                torch.testing.assert_close(cell.window, padded[:, rows, cols])
                torch.testing.assert_close(cell.products, padded[:, rows, cols] * w[f])
                torch.testing.assert_close(cell.channel_sums, cell.products.sum(dim=(1, 2)))
                assert cell.total == pytest.approx(float(cell.channel_sums.sum()) + float(b[f]))


def test_default_example_is_the_classic_one() -> None:
    walk = explain_conv()
    assert walk.input.shape == (3, 5, 5) and walk.weight.shape == (2, 3, 3, 3)
    assert walk.output.shape == (2, 3, 3)  # floor((5 + 2 - 3) / 2) + 1 = 3
    assert set(walk.input.unique().tolist()) <= {0.0, 1.0, 2.0}
    assert set(walk.weight.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert walk.bias.tolist() == [1.0, 0.0]
    torch.testing.assert_close(walk.output, F.conv2d(walk.input[None], walk.weight, walk.bias, stride=2, padding=1)[0])


def test_default_first_cell_by_hand() -> None:
    walk = explain_conv()
    x, k = walk.input, walk.weight[0]
    # Window of out[0, 0, 0]: padded rows/cols 0..2, i.e. input rows/cols -1..1. Row -1 and
    # column -1 are padding zeros, so only kernel taps (1..2, 1..2) meet input values.
    per_channel = [
        x[c, 0, 0] * k[c, 1, 1] + x[c, 0, 1] * k[c, 1, 2] + x[c, 1, 0] * k[c, 2, 1] + x[c, 1, 1] * k[c, 2, 2]
        for c in range(3)
    ]
    cell = walk.cell(0, 0, 0)
    assert cell.channel_sums.tolist() == [float(v) for v in per_channel]
    assert cell.total == float(sum(per_channel)) + 1.0  # bias of filter 0 is 1
    line = render_walkthrough(walk).splitlines()
    head = next(t for t in line if t.startswith("out[f=0, i=0, j=0] = "))
    sums = " + ".join(str(int(v)) for v in per_channel)
    assert head.startswith(f"out[f=0, i=0, j=0] = {sums} + bias 1 = {int(sum(per_channel)) + 1}")


def test_seed_controls_the_example() -> None:
    assert torch.equal(explain_conv(seed=3).input, explain_conv(seed=3).input)
    assert not torch.equal(explain_conv(seed=3).input, explain_conv(seed=4).input)


def test_sizes_shape_the_generated_example() -> None:
    walk = explain_conv(input_size=6, channels=2, filters=4, kernel=2, stride=1, padding=0)
    assert walk.input.shape == (2, 6, 6) and walk.weight.shape == (4, 2, 2, 2) and walk.output.shape == (4, 5, 5)
    # Given weights without a bias: zero bias, and the input follows the weight's channels.
    w = torch.ones(1, 4, 1, 1)
    walk = explain_conv(weight=w)
    assert walk.input.shape[0] == 4 and walk.bias.tolist() == [0.0]


def test_render_fits_the_width_and_summarises_big_examples() -> None:
    walk = explain_conv(input_size=20, channels=4, filters=3, kernel=3, stride=1)
    text = render_walkthrough(walk, max_cells=3, width=96)
    assert max(len(t) for t in text.splitlines()) <= 96
    total = 3 * 20 * 20
    assert f"{total - 3} more of the {total} cells not shown" in text and "--cell" in text
    assert sum(t.startswith("out[") for t in text.splitlines()) == 3
    one = render_walkthrough(walk, cell=(2, 19, 19), width=96)
    assert max(len(t) for t in one.splitlines()) <= 96
    assert [t for t in one.splitlines() if t.startswith("out[")] == [
        t for t in one.splitlines() if t.startswith("out[f=2, i=19, j=19]")
    ]


def test_render_shows_the_size_formula_with_numbers() -> None:
    text = render_walkthrough(explain_conv())
    assert "floor((5 + 2*1 - 3) / 2) + 1 = 3" in text
    text = render_walkthrough(explain_conv(input_size=7, dilation=2, stride=1))
    assert f"floor((7 + 2*1 - 2*(3-1) - 1) / 1) + 1 = {(7 + 2 - 2 * 2 - 1) // 1 + 1}" in text


def test_own_numbers_default_to_conv2ds_stride_and_padding() -> None:
    # the example's stride 2 / padding 1 are for generated numbers only
    gen = torch.Generator().manual_seed(3)
    x, w = torch.rand(2, 6, 6, generator=gen), torch.rand(3, 2, 3, 3, generator=gen)
    torch.testing.assert_close(explain_conv(x, w).output, F.conv2d(x[None].double(), w.double())[0])
    walk = explain_conv(weight=w)  # generated input, own filters: still one's own numbers
    torch.testing.assert_close(walk.output, F.conv2d(walk.input[None], walk.weight, walk.bias)[0])
    walk = explain_conv(input_size=6, kernel=3)  # a generated example keeps its own settings
    assert (walk.stride, walk.padding) == (2, 1)


def test_to_dict_is_json_and_matches_conv2d() -> None:
    walk = explain_conv(torch.rand(2, 4, 4), torch.rand(3, 2, 2, 2), torch.rand(3), stride=1, padding=0)
    data = json.loads(json.dumps(walk.to_dict()))
    x, w, b = (torch.tensor(data[k], dtype=torch.float64) for k in ("input", "weight", "bias"))
    torch.testing.assert_close(torch.tensor(data["output"], dtype=torch.float64), F.conv2d(x[None], w, b)[0])
    assert len(data["cells"]) == data["cells_total"] == 3 * 3 * 3


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((torch.ones(3, 4, 4), torch.ones(2, 2, 3, 3)), {}, "channels"),
        ((torch.ones(1, 4, 4), torch.ones(2, 1, 3, 3), torch.ones(3)), {}, "one bias per filter"),
        ((torch.ones(1, 2, 2), torch.ones(1, 1, 5, 5)), {"padding": 0}, "larger than the padded"),
        ((torch.ones(4, 4),), {}, "3-D"),
        (([[[1, 2], [3]]],), {}, "rectangular"),
        ((), {"stride": 0}, "stride"),
        ((torch.ones(2, 4, 4),), {"channels": 3}, "disagrees"),
        ((torch.full((1, 3, 3), float("nan")),), {}, "NaN"),
    ],
)
def test_bad_arguments_raise_cnnkit_errors(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(CnnkitError, match=message):
        explain_conv(*args, **kwargs)


def test_cell_out_of_range_and_unknown_option() -> None:
    with pytest.raises(CnnkitError, match="does not exist"):
        explain_conv().cell(2, 0, 0)
    with pytest.raises(TypeError):
        explain_conv(strides=1)  # type: ignore[call-arg]
