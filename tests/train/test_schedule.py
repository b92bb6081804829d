"""Learning-rate schedules against torch's OneCycleLR and the written-out formulas."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import CnnkitError
from cnnkit.train.schedule import Schedule


def torch_onecycle(peak: float, total: int, pct_start: float) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=peak)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=peak, total_steps=total, pct_start=pct_start, anneal_strategy="cos", cycle_momentum=False
    )
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@settings(max_examples=30, deadline=None)
@given(total=st.integers(4, 400), warm_share=st.floats(0.05, 0.9), peak=st.floats(1e-4, 2.0))
def test_onecycle_matches_torch(total: int, warm_share: float, peak: float) -> None:
    warmup = max(2, round(warm_share * total))
    ours = Schedule("onecycle", peak, total, warmup).curve()
    theirs = torch_onecycle(peak, total, warmup / total)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_cosine_with_warmup_formula() -> None:
    sched = Schedule("cosine", 0.4, total_steps=110, warmup_steps=10)
    assert sched.lr(0) == pytest.approx(0.04)
    assert sched.lr(9) == pytest.approx(0.4)
    # after warm-up: 0.4 * (1 + cos(pi * t / 100)) / 2 at step 10 + t
    for t in (0, 25, 50, 99):
        assert sched.lr(10 + t) == pytest.approx(0.4 * (1 + math.cos(math.pi * t / 100)) / 2)


def test_constant_with_and_without_warmup() -> None:
    assert Schedule("constant", 0.1, 50, 0).curve() == [0.1] * 50
    curve = Schedule("constant", 0.1, 50, 5).curve()
    assert curve[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert curve[5:] == [0.1] * 45


@settings(max_examples=50, deadline=None)
@given(
    kind=st.sampled_from(["onecycle", "cosine", "constant"]),
    total=st.integers(1, 300),
    warm=st.floats(0.0, 1.0),
    peak=st.floats(1e-5, 5.0),
)
def test_every_schedule_stays_between_zero_and_peak(kind: str, total: int, warm: float, peak: float) -> None:
    warmup = round(warm * total)
    curve = Schedule(kind, peak, total, warmup).curve()
    assert len(curve) == total
    assert all(0.0 <= lr <= peak * (1 + 1e-12) for lr in curve)
    assert all(b >= a - 1e-15 for a, b in zip(curve[:warmup], curve[1:warmup]))  # warm-up rises
    assert max(curve) == pytest.approx(peak)


def test_bad_schedules() -> None:
    with pytest.raises(CnnkitError, match="at least 1 step"):
        Schedule("cosine", 0.1, 0)
    with pytest.raises(CnnkitError, match="fewer --warmup-epochs"):
        Schedule("cosine", 0.1, 10, 11)
    with pytest.raises(CnnkitError, match="unknown schedule"):
        Schedule("linear", 0.1, 10)
