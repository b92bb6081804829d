"""A small random RGB classifier as a Subject, for the attribution tests (imported by test modules)."""

from __future__ import annotations

from cnnkit.interpret.subject import Subject


def small_rgb_subject() -> Subject:
    """A random RGB 8x8 classifier (weights from a seeded generator) with a non-trivial
    normalization: four classes a..d."""
    import torch
    from torch import nn

    from cnnkit.data.tensordata import DatasetInfo
    from cnnkit.interpret.subject import subject_from_model
    from cnnkit.nn.seeded_init import init_from_generator

    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )
    init_from_generator(model, torch.Generator().manual_seed(0))
    info = DatasetInfo("tiny", "image", (3, 8, 8), ("a", "b", "c", "d"), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    return subject_from_model(model, info, name="tiny")
