"""--threads: the bound checked before any work, and torch_threads restoring the count."""

from __future__ import annotations

import os

import pytest
import torch

from cnnkit.errors import CnnkitError
from cnnkit.train.device import THREADS_PER_CORE, check_threads, torch_threads


def test_threads_bound_is_a_few_per_core() -> None:
    cores = os.cpu_count() or 1
    for ok in (None, 0, 1, cores, THREADS_PER_CORE * cores):
        check_threads(ok)
    for bad in (-1, THREADS_PER_CORE * cores + 1, 100_000):
        with pytest.raises(CnnkitError, match="^threads must be a whole number >= 0"):
            check_threads(bad)


def test_torch_threads_sets_and_restores() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: leave as is
        assert torch.get_num_threads() == before
