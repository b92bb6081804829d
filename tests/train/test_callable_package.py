"""cnnkit.train(...) trains, although cnnkit.train is also the training package."""

from __future__ import annotations

from tinydata import NO_BN_CNN, tiny_splits

import cnnkit


def test_cnnkit_train_trains_like_the_trainer_function() -> None:
    result = cnnkit.train(NO_BN_CNN, tiny_splits(), epochs=2, lr=0.1, quiet=True, device="cpu", augment="none")
    assert [m["epoch"] for m in result.metrics] == [1, 2]
    assert result.test is not None and result.test.num_samples == 60
