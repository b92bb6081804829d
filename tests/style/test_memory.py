"""The memory check before style transfer decodes anything (cnnkit.style.memory)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from cnnkit.errors import CnnkitError
from cnnkit.style.extractor import FeatureExtractor
from cnnkit.style.memory import OVERHEAD, activation_bytes_per_pixel, check_fits

Cli = Callable[[list[object]], tuple[int, str, str]]


def test_bytes_per_pixel_is_the_sum_of_the_layer_outputs(tiny: FeatureExtractor) -> None:
    # TINY_SPEC up to its last convolution's ReLU, per input pixel, float32:
    # block 1 at full size: conv, relu, conv, relu of 8 channels; a 2x2 pool to 1/4 of the
    # pixels; block 2 at 1/4: conv, relu, conv, relu of 16 channels.
    values = 4 * 8 + 8 / 4 + 4 * 16 / 4
    assert activation_bytes_per_pixel(tiny) == pytest.approx(4 * values)


def test_refuses_a_size_over_the_free_memory_and_names_one_that_fits(tiny: FeatureExtractor) -> None:
    per_pixel = activation_bytes_per_pixel(tiny) * OVERHEAD
    free = int(per_pixel * 500 * 500)
    check_fits(tiny, 500, available=free)  # exactly enough
    with pytest.raises(CnnkitError, match=r"^--size 1000 needs about .* use a smaller --size") as info:
        check_fits(tiny, 1000, available=free)
    suggested = int(str(info.value).rsplit("--size ", 1)[1])
    assert suggested % 16 == 0 and per_pixel * suggested**2 <= 0.8 * free
    assert suggested >= 16 * math.floor(math.sqrt(0.8) * 500 / 16)  # not needlessly small


def test_cli_refuses_in_one_line(pictures: dict[str, Path], tmp_path: Path, run_cli: Cli) -> None:
    from conftest import TINY_SPEC

    out = tmp_path / "s.png"
    code, _, err = run_cli(["style", pictures["content"], pictures["style"], "-o", out, "--model", TINY_SPEC,
                            "--allow-random-weights", "--size", "10000000"])  # fmt: skip
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and "--size 10000000 needs about" in lines[0], err
    assert not out.exists()
