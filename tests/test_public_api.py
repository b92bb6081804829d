"""The top-level API: every exported name resolves, and cnnkit.train is callable."""

from __future__ import annotations

import cnnkit


def test_every_exported_name_resolves() -> None:
    for name in cnnkit.__all__:
        assert getattr(cnnkit, name) is not None, name


def test_train_stays_callable_after_submodule_imports() -> None:
    import cnnkit.train.config  # noqa: F401  (binds the package to cnnkit.train)
    from cnnkit.train.trainer import train

    assert callable(cnnkit.train)
    assert cnnkit.train.trainer.train is train  # still the package, too

