"""Face verification (1:1): ROC, AUC, EER, TAR at a FAR, accuracy, and choosing tau.

The rule is the lecture's: a pair is accepted as "same identity" when its squared L2
distance d = ||f(x_i) - f(x_j)||^2 is at most a threshold tau. Everything here works on

- ``distances``: float (M,), squared L2 distances of M pairs (in [0, 4] for unit vectors);
- ``same``: bool (M,), True where the pair shows one identity.

Vocabulary: FAR (false accept rate) = accepted different pairs / different pairs;
TAR (true accept rate) = accepted same pairs / same pairs; FRR = 1 - TAR. The ROC curve is
scikit-learn's, on the score -d (a smaller distance means "more alike"). Computations run
in float64 so that a tau chosen here gives the same decisions in :func:`is_same`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cnnkit.errors import DataError, ShapeError

__all__ = [
    "DEFAULT_FARS",
    "RULES",
    "choose_threshold",
    "is_same",
    "pair_arrays",
    "pair_distances",
    "verification_metrics",
]

DEFAULT_FARS = (1e-3, 1e-2)
RULES = ("accuracy", "far")


def pair_distances(embeddings: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Squared L2 distances ||e[i_m] - e[j_m]||^2 of M pairs.

    ``embeddings`` float (N, d); ``i`` and ``j`` int64 (M,) row indices. Returns float (M,)
    in the embeddings' dtype (computed as the sum of squared differences, not via the
    ||a||^2 + ||b||^2 - 2ab expansion, so identical rows give exactly 0).
    """
    if embeddings.dim() != 2 or not embeddings.is_floating_point():
        raise ShapeError(f"embeddings must be float (N, d), got {embeddings.dtype} {tuple(embeddings.shape)}")
    i, j = torch.as_tensor(i), torch.as_tensor(j)
    for name, index in (("i", i), ("j", j)):
        if index.dim() != 1 or index.is_floating_point() or index.dtype == torch.bool:
            raise ShapeError(f"pair index {name} must be int64 (M,), got {index.dtype} {tuple(index.shape)}")
    if i.shape != j.shape:
        raise ShapeError(f"pair indices i and j must have the same length, got {i.numel()} and {j.numel()}")
    n = embeddings.shape[0]
    if i.numel() and (min(int(i.min()), int(j.min())) < 0 or max(int(i.max()), int(j.max())) >= n):
        raise DataError(f"pair indices must lie in 0..{n - 1} (there are {n} embeddings); check the pairs list")
    i, j = i.to(embeddings.device).long(), j.to(embeddings.device).long()
    return (embeddings[i] - embeddings[j]).pow(2).sum(dim=1)


def is_same(distances: Tensor, tau: float) -> Tensor:
    """The decision d <= tau: bool (M,) from float (M,) distances (compared in float64)."""
    return torch.as_tensor(distances).double() <= float(tau)


def verification_metrics(
    distances: Tensor | np.ndarray, same: Tensor | np.ndarray, *, tau: float | None = None,
    fars: tuple[float, ...] = DEFAULT_FARS,
) -> dict[str, Any]:
    """Score a verifier: a JSON-ready dict.

    Keys: ``pairs``, ``same_pairs``, ``different_pairs`` (counts); ``auc`` (ROC AUC of -d);
    ``eer`` (where FAR = FRR, linearly interpolated between ROC points) and ``eer_tau``;
    ``tar_at_far``: one ``{"far", "tar", "tau", "note"}`` per target in ``fars`` (the best
    TAR whose FAR <= target; ``tar``/``tau`` are None with a note when there are too few
    different pairs, fewer than 1/target, to measure that FAR); ``best_accuracy`` and
    ``best_tau`` (the oracle tau on these very pairs: optimistic, use a validation split
    to choose tau); ``tau``, ``accuracy``, ``far_at_tau``, ``tar_at_tau`` for a given ``tau``
    (None without one); ``roc``: ``{"far": [...], "tar": [...], "tau": [...]}`` for plotting
    (scikit-learn's thinned curve; ``tau[0]`` is None: the point where nothing is accepted);
    ``notes``: list of strings.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    d, y = pair_arrays(distances, same)
    n_same, n_diff = int(y.sum()), int((~y).sum())
    score = -d
    # The full curve (every distinct distance) for EER and TAR@FAR; the thinned one to draw.
    far, tar, thresholds = roc_curve(y, score, drop_intermediate=False)
    taus = -thresholds  # score >= t  <=>  d <= -t; taus[0] is -inf (accept nothing)
    eer, eer_tau = _eer(far, tar, taus)
    notes: list[str] = []
    tar_at = []
    for target in fars:
        if not 0.0 < target <= 1.0:
            raise DataError(f"a target FAR must lie in (0, 1], got {target}")
        if n_diff * target < 1.0 - 1e-9:
            note = (f"TAR at FAR {target:g} needs at least {math.ceil(1 / target - 1e-9)} different pairs "
                    f"(the smallest nonzero FAR is 1/{n_diff}); evaluate on more pairs")
            notes.append(note)
            tar_at.append({"far": target, "tar": None, "tau": None, "note": note})
            continue
        ok = np.flatnonzero(far <= target + 1e-12)
        k = int(ok[-1])  # far is nondecreasing, tar too: the last allowed point has the best TAR
        tar_at.append({"far": target, "tar": float(tar[k]), "tau": _finite(taus[k]), "note": None})
    best_tau = choose_threshold(d, y, rule="accuracy")
    plot_far, plot_tar, plot_thresholds = roc_curve(y, score)
    result: dict[str, Any] = {
        "pairs": int(d.size), "same_pairs": n_same, "different_pairs": n_diff,
        "auc": float(roc_auc_score(y, score)), "eer": eer, "eer_tau": eer_tau, "tar_at_far": tar_at,
        "best_accuracy": _accuracy(d, y, best_tau), "best_tau": best_tau,
        "tau": None, "accuracy": None, "far_at_tau": None, "tar_at_tau": None,
        "roc": {"far": plot_far.tolist(), "tar": plot_tar.tolist(),
                "tau": [_finite(-t) for t in plot_thresholds]},
        "notes": notes,
    }
    if tau is not None:
        accept = d <= float(tau)
        result.update(tau=float(tau), accuracy=_accuracy(d, y, float(tau)),
                      far_at_tau=float(accept[~y].mean()), tar_at_tau=float(accept[y].mean()))
    return result


def choose_threshold(
    distances: Tensor | np.ndarray, same: Tensor | np.ndarray, *, rule: str = "accuracy", target_far: float = 1e-3,
) -> float:
    """Choose tau on validation pairs.

    ``rule="accuracy"``: the tau of highest accuracy. Every tau between two neighbouring
    distinct distances makes the same decisions, so the midpoint of that gap is returned
    (a margin on both sides); among equally accurate gaps the smallest tau wins (fewer
    false accepts). ``rule="far"``: the largest operating point whose FAR on these pairs is
    <= ``target_far``: tau sits in the gap just below the first different pair that would
    push FAR over the target (again its midpoint). Raises DataError without same or
    without different pairs.
    """
    if rule not in RULES:
        raise DataError(f"unknown threshold rule {rule!r}; use one of {', '.join(RULES)}")
    d, y = pair_arrays(distances, same)
    values = np.unique(d)  # sorted distinct distances v_0 < ... < v_k
    if rule == "far":
        if not 0.0 < target_far <= 1.0:
            raise DataError(f"target_far must lie in (0, 1], got {target_far}")
        diff = np.sort(d[~y])
        allowed = math.floor(target_far * diff.size + 1e-9)  # false accepts we may make
        if allowed >= diff.size:
            return _gap(values, values.size - 1)  # accepting everything stays within the target
        # Accept every distance below diff[allowed]: the last such distinct value is v_c.
        c = int(np.searchsorted(values, diff[allowed], side="left")) - 1
        return _gap(values, c)
    # Accuracy after accepting v_0..v_c, for c = -1 (nothing) .. k (everything).
    order = np.searchsorted(values, d)  # each pair's gap index
    same_at = np.bincount(order[y], minlength=values.size)
    diff_at = np.bincount(order[~y], minlength=values.size)
    correct = np.concatenate([[0], np.cumsum(same_at)]) + (diff_at.sum() - np.concatenate([[0], np.cumsum(diff_at)]))
    best = int(np.argmax(correct))  # argmax takes the first maximum: the smallest tau
    return _gap(values, best - 1)


# --------------------------------------------------------------------------- helpers
def pair_arrays(distances: Any, same: Any) -> tuple[np.ndarray, np.ndarray]:
    """float64 (M,) and bool (M,) numpy arrays; errors for shapes, NaNs and one-class sets."""
    d = torch.as_tensor(distances).detach().cpu().double().numpy() if not isinstance(distances, np.ndarray) \
        else distances.astype(np.float64)
    y_raw = torch.as_tensor(same).detach().cpu() if not isinstance(same, np.ndarray) else torch.from_numpy(same)
    if d.ndim != 1 or y_raw.dim() != 1 or d.shape[0] != y_raw.shape[0]:
        raise ShapeError(f"distances and same must both be (M,), got {tuple(d.shape)} and {tuple(y_raw.shape)}")
    if y_raw.dtype != torch.bool:
        if y_raw.is_floating_point() or not bool(((y_raw == 0) | (y_raw == 1)).all()):
            raise ShapeError(f"same must be bool (M,) (or 0/1 integers), got {y_raw.dtype}")
        y_raw = y_raw.bool()
    if not np.isfinite(d).all():
        raise DataError(f"{int((~np.isfinite(d)).sum())} distances are NaN or infinite; check the embeddings")
    y = y_raw.numpy()
    if not y.any() or y.all():
        kind = "same-identity" if not y.any() else "different-identity"
        raise DataError(f"the pairs contain no {kind} pair; verification needs both kinds of pairs")
    return d, y


def _eer(far: np.ndarray, tar: np.ndarray, taus: np.ndarray) -> tuple[float, float | None]:
    """Equal error rate: the first ROC segment where FAR - FRR changes sign, interpolated."""
    gap = far - (1.0 - tar)  # starts at -1 (accept nothing), ends at +1 (accept everything)
    k = int(np.argmax(gap >= 0))
    if k == 0 or gap[k] == 0:
        return float(far[k]), _finite(taus[k])
    t = gap[k - 1] / (gap[k - 1] - gap[k])  # fraction of the way from point k-1 to k
    eer = float(far[k - 1] + t * (far[k] - far[k - 1]))
    lo = taus[k - 1] if np.isfinite(taus[k - 1]) else taus[k]
    return eer, float(lo + t * (taus[k] - lo))


def _accuracy(d: np.ndarray, y: np.ndarray, tau: float) -> float:
    return float(((d <= tau) == y).mean())


def _gap(values: np.ndarray, c: int) -> float:
    """A tau that accepts exactly v_0..v_c: the midpoint of (v_c, v_{c+1}); at the ends half
    a neighbouring gap outside (c = -1: below everything; c = k: above everything)."""
    k = values.size - 1
    if c < 0:
        step = values[1] - values[0] if k >= 1 else 1.0
        return float(values[0] - step / 2)
    if c >= k:
        step = values[k] - values[k - 1] if k >= 1 else 1.0
        return float(values[k] + step / 2)
    mid = float((values[c] + values[c + 1]) / 2)
    # Neighbouring floats have no midpoint in between; v_c itself still accepts v_0..v_c.
    return mid if values[c] <= mid < values[c + 1] else float(values[c])


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
