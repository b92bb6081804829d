"""--input shapes are CxHxW; the HxWxC habit of image files and Keras gets a suggestion."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnkit.cli.common import parse_shape
from cnnkit.errors import CnnkitError


@given(st.integers(8, 512), st.integers(8, 512), st.sampled_from([1, 3]))
def test_channels_last_is_refused_with_the_channels_first_shape(h: int, w: int, c: int) -> None:
    with pytest.raises(CnnkitError, match=rf"shapes are CxHxW; did you mean {c}x{h}x{w}\?"):
        parse_shape(f"{h}x{w}x{c}")
    assert parse_shape(f"{c}x{h}x{w}") == (c, h, w)


@given(st.integers(8, 64), st.integers(8, 64), st.integers(8, 64), st.sampled_from([1, 3]))
def test_volumes_too(d: int, h: int, w: int, c: int) -> None:
    with pytest.raises(CnnkitError, match=f"did you mean {c}x{d}x{h}x{w}"):
        parse_shape(f"{d}x{h}x{w}x{c}")


@pytest.mark.parametrize("shape", ["3x224x224", "1x28x28", "1x40", "4x5x5", "16x4x3", "1x16x32x32", "3x3x3"])
def test_channels_first_shapes_pass(shape: str) -> None:
    assert "x".join(map(str, parse_shape(shape))) == shape


def test_summary_and_train_say_it_in_one_line(cli_error: Callable) -> None:
    assert cli_error(["summary", "quicknet", "--input", "32x32x3"]) == (
        "error: --input '32x32x3': shapes are CxHxW; did you mean 3x32x32?"
    )
    assert "did you mean 3x64x64?" in cli_error(["train", "--data", "digits", "--input", "64x64x3"])
