"""cnnkit.numbers.check_range: the bounds, and what typer lets through (inf, nan, bools)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnkit.errors import CnnkitError, ConfigError
from cnnkit.numbers import check_range


@given(st.floats(allow_nan=True, allow_infinity=True), st.booleans())
def test_accepts_exactly_the_finite_numbers_in_bounds(value: float, strict: bool) -> None:
    fine = math.isfinite(value) and (value > 0 if strict else value >= 0) and value <= 10
    if fine:
        check_range("--lr", value, 0, 10, strict=strict)
    else:
        with pytest.raises(ConfigError, match=r"^lr must be a finite number") as err:
            check_range("--lr", value, 0, 10, strict=strict)  # a flag given as the name: its parameter
        assert err.value.parameter == "lr"


def test_integers_and_bools() -> None:
    check_range("--epochs", 3, 1, integer=True)
    for bad in (2.5, True, "3", 0):
        with pytest.raises(CnnkitError, match="must be a whole number >= 1"):
            check_range("--epochs", bad, 1, integer=True)


def test_the_library_names_the_parameter_and_the_cli_the_flag(cli_error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"^step_size must be a finite number > 0"):
        check_range("step_size", 0, 0, strict=True)
    # the same check reached from the command line names the flag that was typed
    assert cli_error(["train", "--data", "digits", "--lr", "inf"]).startswith("error: --lr must be a finite number")
