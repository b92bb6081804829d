"""Verification metrics and threshold rules against sklearn, brute force and hand computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from cnnkit.errors import CnnkitError, DataError, ShapeError
from cnnkit.faces.verify import choose_threshold, is_same, pair_distances, verification_metrics


def _rates(d: np.ndarray, y: np.ndarray, tau: float) -> tuple[float, float, float]:
    """FAR, TAR, accuracy of d <= tau, counted by hand."""
    accept = d <= tau
    far = sum(a and not s for a, s in zip(accept, y)) / sum(not s for s in y)
    tar = sum(a and s for a, s in zip(accept, y)) / sum(y)
    acc = sum(a == s for a, s in zip(accept, y)) / len(y)
    return far, tar, acc


# --------------------------------------------------------------------------- pair_distances
def test_pair_distances_match_cdist_squared() -> None:
    e = torch.nn.functional.normalize(torch.randn(6, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    i, j = torch.tensor([0, 1, 2, 5, 3]), torch.tensor([1, 1, 4, 0, 2])
    expected = torch.cdist(e, e)[i, j] ** 2
    got = pair_distances(e, i, j)
    assert got.shape == (5,)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert got[1] == 0.0  # a row with itself is exactly 0


def test_pair_distances_reject_bad_input() -> None:
    e = torch.zeros(3, 4)
    with pytest.raises(DataError, match="0..2"):
        pair_distances(e, torch.tensor([0, 3]), torch.tensor([1, 1]))
    with pytest.raises(ShapeError):
        pair_distances(e, torch.tensor([0, 1]), torch.tensor([1]))
    with pytest.raises(ShapeError):
        pair_distances(torch.zeros(3), torch.tensor([0]), torch.tensor([1]))


# --------------------------------------------------------------------------- metrics
def test_metrics_against_sklearn_and_hand_counts() -> None:
    d = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 1.3, 0.5])
    y = np.array([True, True, False, True, False, False, False, True])
    m = verification_metrics(torch.tensor(d), torch.tensor(y), tau=0.45)
    assert (m["pairs"], m["same_pairs"], m["different_pairs"]) == (8, 4, 4)
    assert m["auc"] == pytest.approx(roc_auc_score(y, -d))
    far, tar, acc = _rates(d, y, 0.45)
    assert (m["far_at_tau"], m["tar_at_tau"], m["accuracy"]) == (pytest.approx(far), pytest.approx(tar),
                                                                 pytest.approx(acc))
    # Every ROC point is a real operating point: check it by counting at its tau.
    for f, t, tau in zip(m["roc"]["far"][1:], m["roc"]["tar"][1:], m["roc"]["tau"][1:]):
        hand_far, hand_tar, _ = _rates(d, y, tau)
        assert (f, t) == (pytest.approx(hand_far), pytest.approx(hand_tar))
    assert m["roc"]["tau"][0] is None and m["roc"]["far"][0] == 0 and m["roc"]["tar"][0] == 0
    json.dumps(m, allow_nan=False)  # JSON-ready


def test_eer_known_answer_on_a_diagonal_segment() -> None:
    # same at 1, 2; different at 2, 3. ROC: (0,0) -> (0,.5) at tau 1 -> (.5,1) at tau 2 -> (1,1).
    # FAR = 1 - TAR on the segment from (0,.5) to (.5,1) at FAR = 0.25.
    m = verification_metrics(torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.tensor([True, True, False, False]))
    assert m["eer"] == pytest.approx(0.25)
    assert m["eer_tau"] == pytest.approx(1.5)


def test_eer_at_a_vertex_and_for_perfect_separation() -> None:
    # tau in [4, 5): one different pair accepted (FAR 1/5), one same pair rejected (FRR 1/5).
    d = torch.tensor([0.0, 1, 2, 3, 5, 4, 6, 7, 8, 9])
    y = torch.tensor([True] * 5 + [False] * 5)
    assert verification_metrics(d, y)["eer"] == pytest.approx(0.2)
    separated = verification_metrics(torch.tensor([0.1, 0.2, 1.5, 1.7]), torch.tensor([True, True, False, False]))
    assert separated["eer"] == 0.0 and separated["auc"] == 1.0 and separated["best_accuracy"] == 1.0


def test_tar_at_far_and_the_too_few_pairs_note() -> None:
    rng = np.random.default_rng(0)
    diff = rng.uniform(1.0, 3.0, 1000)
    same = rng.uniform(0.0, 1.2, 50)
    d = np.concatenate([same, diff])
    y = np.concatenate([np.ones(50, bool), np.zeros(1000, bool)])
    m = verification_metrics(d, y, fars=(1e-3, 1e-2, 1e-4))
    by_far = {row["far"]: row for row in m["tar_at_far"]}
    ranked = np.sort(diff)
    for far in (1e-3, 1e-2):
        allowed = round(far * 1000)  # false accepts allowed: 1 and 10
        # The best TAR accepts everything below the (allowed+1)-th smallest different distance.
        expected = float((same < ranked[allowed]).mean())
        assert by_far[far]["tar"] == pytest.approx(expected)
        assert _rates(d, y, by_far[far]["tau"])[0] <= far
    assert by_far[1e-4]["tar"] is None and "10000 different pairs" in by_far[1e-4]["note"]
    assert any("1/1000" in note for note in m["notes"])


def test_metrics_errors() -> None:
    with pytest.raises(DataError, match="no different-identity pair"):
        verification_metrics(torch.tensor([0.1, 0.2]), torch.tensor([True, True]))
    with pytest.raises(DataError, match="NaN"):
        verification_metrics(torch.tensor([0.1, float("nan")]), torch.tensor([True, False]))
    with pytest.raises(ShapeError):
        verification_metrics(torch.tensor([0.1, 0.2]), torch.tensor([True]))


# --------------------------------------------------------------------------- thresholds
def test_accuracy_rule_on_hand_made_distances() -> None:
    # same 0.1, 0.2, 0.6; different 0.5, 0.9, 1.0. Accepting up to 0.2 gives 5/6 and so does
    # accepting up to 0.6 (5/6); the smaller tau wins: the midpoint of 0.2 and 0.5.
    d = torch.tensor([0.1, 0.2, 0.6, 0.5, 0.9, 1.0])
    y = torch.tensor([True, True, True, False, False, False])
    assert choose_threshold(d, y) == pytest.approx(0.35)
    # Perfect separation: the midpoint of the gap.
    assert choose_threshold(torch.tensor([0.1, 0.3, 0.7, 0.8]), torch.tensor([1, 1, 0, 0])) == pytest.approx(0.5)


def test_far_rule_on_hand_made_distances() -> None:
    d = torch.tensor([0.1, 0.2, 0.3, 0.45, 0.4, 0.5, 0.6, 0.7])
    y = torch.tensor([True, True, True, True, False, False, False, False])
    # Target 0.25 of 4 different pairs: one false accept allowed (0.4), not two (0.5):
    # tau lies between 0.45 (the last distance below 0.5) and 0.5.
    tau = choose_threshold(d, y, rule="far", target_far=0.25)
    assert tau == pytest.approx(0.475)
    far, tar, _ = _rates(d.numpy(), y.numpy(), tau)
    assert far == 0.25 and tar == 1.0
    # No false accept allowed: below 0.4, above 0.3.
    assert choose_threshold(d, y, rule="far", target_far=0.1) == pytest.approx(0.35)


def test_threshold_errors() -> None:
    with pytest.raises(DataError, match="no same-identity pair"):
        choose_threshold(torch.tensor([0.1, 0.2]), torch.tensor([False, False]))
    with pytest.raises(DataError, match="unknown threshold rule"):
        choose_threshold(torch.tensor([0.1, 0.2]), torch.tensor([True, False]), rule="eer")
    with pytest.raises(CnnkitError, match="target_far"):
        choose_threshold(torch.tensor([0.1, 0.2]), torch.tensor([True, False]), rule="far", target_far=0)


def test_is_same_is_d_le_tau() -> None:
    d = torch.tensor([0.5, 0.25, 0.75])
    assert is_same(d, 0.5).tolist() == [True, True, False]


# --------------------------------------------------------------------------- invariants
_pairs = st.lists(
    st.tuples(st.floats(0, 4, allow_nan=False, width=32), st.booleans()), min_size=2, max_size=40
).filter(lambda rows: any(s for _, s in rows) and not all(s for _, s in rows))


@settings(max_examples=60, deadline=None)
@given(_pairs)
def test_chosen_tau_is_at_least_as_accurate_as_any_observed_distance(rows: list[tuple[float, bool]]) -> None:
    d = torch.tensor([r[0] for r in rows], dtype=torch.float32)
    y = torch.tensor([r[1] for r in rows])
    tau = choose_threshold(d, y)
    best = float((is_same(d, tau) == y).double().mean())
    for candidate in d.tolist():
        assert best >= float((is_same(d, candidate) == y).double().mean()) - 1e-12
    assert best == pytest.approx(verification_metrics(d, y, tau=tau)["accuracy"])


@settings(max_examples=60, deadline=None)
@given(_pairs, st.sampled_from([0.1, 0.25, 0.5]))
def test_far_rule_meets_the_target_and_is_the_largest(rows: list[tuple[float, bool]], target: float) -> None:
    d = np.array([r[0] for r in rows], dtype=np.float32).astype(np.float64)
    y = np.array([r[1] for r in rows])
    tau = choose_threshold(d, y, rule="far", target_far=target)
    assert _rates(d, y, tau)[0] <= target + 1e-12
    above = d[d > tau]
    if above.size:  # accepting the next observed distance would break the target
        assert _rates(d, y, float(above.min()))[0] > target


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1.9, allow_nan=False), min_size=1, max_size=20),
       st.lists(st.floats(2.0, 4, allow_nan=False), min_size=1, max_size=20))
def test_perfectly_separated_distances_score_one(same_d: list[float], diff_d: list[float]) -> None:
    d = torch.tensor(same_d + diff_d, dtype=torch.float64)
    y = torch.tensor([True] * len(same_d) + [False] * len(diff_d))
    m = verification_metrics(d, y)
    assert m["auc"] == pytest.approx(1.0, abs=1e-12) and m["eer"] == 0.0 and m["best_accuracy"] == 1.0
    assert bool((is_same(d, choose_threshold(d, y)) == y).all())
