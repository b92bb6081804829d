"""Shared test settings: deterministic, single-threaded torch so tests are repeatable."""

from __future__ import annotations

import torch

torch.set_num_threads(1)  # pytest-xdist runs one worker per core; avoid oversubscription
