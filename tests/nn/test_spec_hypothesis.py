"""Property tests: any text fails only with SpecError, and built models keep their promises.

(1) Arbitrary text and random mixtures of grammar tokens: parse_spec and from_spec raise
nothing but SpecError; whenever a model does build, a real forward pass has the shape
the inference promised.
(2) Generated valid conv/pool/deconv/FC stacks in 1-D, 2-D and 3-D: the test tracks the
sizes itself with torch's formulas, and the model's inferred shape and a real forward
pass on a batch of 2 must both agree with it.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnkit.errors import SpecError
from cnnkit.nn.spec import from_spec, parse_spec

# torch notes that padding='same' with an even kernel copies the input; expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Small numbers only, so that whatever builds is cheap to build and run.
_TOKENS = [
    "INPUT", "CONV", "DECONV", "POOL", "MAXPOOL", "AVGPOOL", "STOCHPOOL", "GAP", "GMP", "BN", "RELU",
    "LEAKYRELU", "TANH", "DROPOUT", "FLATTEN", "FC", "SOFTMAX", "conv", "CNOV",
    "->", "→", "[", "]", "*", "?", "(", ")", ",", "=", "#", "\n", "-", "'", '"max"',
    "k", "s", "p", "d", "op", "groups", "mode", "type", "kernel", "units", "slope", "bias",
    "same", "valid", "reflect", "circular", "global", "stochastic", "avg", "true", "x",
    "0", "1", "2", "3", "4", "0.5", "-1", "1e-3", "2x2", "1x3", "3x8x8", "1x12", "2x4x5x5", "1x1x1x1x1",
]  # fmt: skip


def _check_text(text: str) -> None:
    try:
        parse_spec(text)
    except SpecError:
        pass
    try:
        model = from_spec(text)
    except SpecError as err:
        assert err.message  # one line that says what went wrong
        assert "\n" not in err.message
        return
    if max(math.prod(shape) for shape in [model.input_shape, *model.layer_shapes.values()]) > 200_000:
        return  # built fine; too big to run quickly (DECONVs repeated many times)
    model.eval()
    x = torch.rand(2, *model.input_shape)
    with torch.no_grad():
        assert tuple(model(x).shape) == (2, *model.output_shape)


@_SETTINGS
@given(st.text(max_size=80))
def test_arbitrary_text_raises_only_spec_error(text: str) -> None:
    _check_text(text)


@_SETTINGS
@given(st.lists(st.sampled_from(_TOKENS), max_size=30), st.sampled_from([" ", ""]))
def test_token_soup_raises_only_spec_error(tokens: list[str], joiner: str) -> None:
    _check_text(joiner.join(tokens))


_NAMES = ["CONV", "DECONV", "POOL", "MAXPOOL", "AVGPOOL", "STOCHPOOL", "GAP", "GMP", "BN", "RELU",
          "LEAKYRELU", "ELU", "SELU", "GELU", "SILU", "SIGMOID", "TANH", "DROPOUT", "FLATTEN", "FC", "SOFTMAX"]  # fmt: skip
_KEYS = ["k", "s", "p", "d", "op", "groups", "mode", "type", "bias", "slope", "units", "filters"]
_VALUES = ["0", "1", "2", "3", "5", "0.5", "same", "valid", "reflect", "circular", "replicate", "zero",
           "max", "avg", "stochastic", "global", "true", "false", "2x1", "1x2x2", "x"]  # fmt: skip


@st.composite
def _layer_calls(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_NAMES))
    if draw(st.booleans()):
        args = draw(st.lists(st.sampled_from(_VALUES), max_size=1))
        args += [f"{k}={v}" for k, v in draw(st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_VALUES)), max_size=3))]
        name += "(" + ", ".join(args) + ")"
    return name + draw(st.sampled_from(["", "", "?"]))


def _groups(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    body = st.lists(items, min_size=1, max_size=3).map(" -> ".join)
    return st.tuples(body, st.integers(0, 3), st.sampled_from(["", "?"])).map(lambda t: f"[{t[0]}]*{t[1]}{t[2]}")


_ITEMS = st.recursive(_layer_calls(), _groups, max_leaves=8)
_INPUTS = st.sampled_from(["INPUT", "INPUT(1x12)", "INPUT(2x6x6)", "INPUT(3x9x9)", "INPUT(1x3x4x4)", "INPUT(2x1x1)"])


@_SETTINGS
@given(_INPUTS, st.lists(_ITEMS, max_size=5))
def test_grammatical_specs_build_or_raise_spec_error(first: str, items: list[str]) -> None:
    # Well-formed syntax with arbitrary argument values reaches the shape checks.
    _check_text(" -> ".join([first, *items]))


@_SETTINGS
@given(st.lists(st.integers(1, 64), min_size=2, max_size=4))
def test_input_shapes_round_trip(sizes: list[int]) -> None:
    text = f"INPUT({'x'.join(map(str, sizes))}) -> RELU"
    # channels last by the rule below (last 1 or 3, the others image-sized): refused, naming the fix
    if sizes[-1] in (1, 3) and min(sizes[:-1]) >= 8:
        moved = "x".join(map(str, [sizes[-1], *sizes[:-1]]))
        with pytest.raises(SpecError, match=f"did you mean {moved}\\?"):
            parse_spec(text)
        return
    assert parse_spec(text).items[0].options["shape"] == tuple(sizes)  # type: ignore[union-attr]


@st.composite
def valid_stacks(draw: st.DrawFn) -> tuple[str, tuple[int, ...]]:
    """A spec whose every layer fits, and the output shape computed here independently."""
    rank = draw(st.integers(1, 3))
    channels = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, {1: 20, 2: 10, 3: 5}[rank])) for _ in range(rank)]
    parts = [f"INPUT({channels}x{'x'.join(map(str, sizes))})"]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["conv", "same", "pool", "deconv", "bn", "act"]))
        small = min(sizes)
        if kind == "same":
            k, d = draw(st.integers(1, 4)), draw(st.integers(1, 2))
            mode = draw(st.sampled_from(["zero", "replicate"]))
            channels = draw(st.integers(1, 4))
            parts.append(f"CONV({channels}, k={k}, d={d}, p=same, mode={mode})")
        elif kind == "conv":
            p, s, d = draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            k_max = min(4, (small + 2 * p - 1) // d + 1)  # dilated extent d(k-1)+1 <= n+2p
            k = draw(st.integers(1, k_max))
            mode = draw(st.sampled_from(["zero", "replicate"] + (["circular"] if p <= small else [])))
            channels = draw(st.integers(1, 4))
            parts.append(f"CONV({channels}, k={k}, s={s}, p={p}, d={d}, mode={mode})")
            sizes = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n in sizes]
        elif kind == "pool":
            p = draw(st.integers(0, 1))
            kind_word = draw(st.sampled_from(["max", "avg"]))
            k_low, k_high = max(2 * p, 1), min(3, small + 2 * p)  # torch: pad <= k/2; window <= padded input
            if kind_word == "avg" and rank == 3:
                k_high = min(k_high, small)  # torch's avg_pool3d wants the window inside the unpadded input
            if k_low > k_high:
                continue
            k, s = draw(st.integers(k_low, k_high)), draw(st.integers(1, 3))
            parts.append(f"POOL({k}, s={s}, p={p}, type={kind_word})")
            sizes = [(n + 2 * p - k) // s + 1 for n in sizes]
        elif kind == "deconv":
            if max(sizes) > 12:
                continue
            k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
            op = draw(st.integers(0, max(s, d) - 1))
            p = draw(st.integers(0, 1))
            new = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n in sizes]
            if min(new) < 1:
                continue
            channels = draw(st.integers(1, 3))
            parts.append(f"DECONV({channels}, k={k}, s={s}, p={p}, op={op}, d={d})")
            sizes = new
        else:
            parts.append(draw(st.sampled_from(["BN", "RELU", "TANH", "LEAKYRELU(0.1)"])))
    shape: tuple[int, ...] = (channels, *sizes)
    hidden = draw(st.lists(st.integers(1, 5), max_size=2))
    if draw(st.booleans()):
        parts += [f"FC({u}) -> RELU" for u in hidden]
        parts.append("FC")
        shape = (10,)  # a bare last FC has num_classes units, 10 by default
    return " -> ".join(parts), shape


@_SETTINGS
@given(valid_stacks())
def test_valid_stacks_build_and_run_with_the_inferred_shape(case: tuple[str, tuple[int, ...]]) -> None:
    text, expected = case
    model = from_spec(text)
    assert model.output_shape == expected
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, *model.input_shape))
    assert tuple(out.shape) == (2, *expected)
