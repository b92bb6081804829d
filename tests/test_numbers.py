"""cnnkit.numbers.check_range: the bounds, and what typer lets through (inf, nan, bools)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnkit.errors import CnnkitError
from cnnkit.numbers import check_range


@given(st.floats(allow_nan=True, allow_infinity=True), st.booleans())
def test_accepts_exactly_the_finite_numbers_in_bounds(value: float, strict: bool) -> None:
    fine = math.isfinite(value) and (value > 0 if strict else value >= 0) and value <= 10
    if fine:
        check_range("--lr", value, 0, 10, strict=strict)
    else:
        with pytest.raises(CnnkitError, match=r"^--lr must be a finite number"):
            check_range("--lr", value, 0, 10, strict=strict)


def test_integers_and_bools() -> None:
    check_range("--epochs", 3, 1, integer=True)
    for bad in (2.5, True, "3", 0):
        with pytest.raises(CnnkitError, match="must be a whole number >= 1"):
            check_range("--epochs", bad, 1, integer=True)
