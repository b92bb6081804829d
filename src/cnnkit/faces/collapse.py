"""A collapsed embedding, or a tau no decision can use, named before it misleads anyone.

A short or badly set-up training run can map every image to nearly the same unit vector:
every squared distance is then tiny (1e-5 on a 0..4 scale), tau is chosen near 0, and
``faces verify`` calls two pictures of one person "different" at d = 7e-05. Training
records the *spread*, the median squared distance of its validation pairs of different
identities (healthy embeddings: tenths to about 2; random unit vectors: about 2), and warns
when it or tau is too small; verify, enroll and identify refuse such a run in one line.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.errors import RunError

__all__ = ["RETRAIN", "SPREAD_MIN", "TAU_MIN", "check_usable", "spread", "unusable_reason"]

SPREAD_MIN = 1e-2  # median different-pair squared distance below this: the embedding collapsed
TAU_MIN = 1e-4  # squared distance; below it only near-identical images count as one person
RETRAIN = "train again: longer (--epochs), with --mining semi_hard, or with --loss contrastive --margin 1"


def spread(distances: Tensor, same: Tensor) -> float:
    """The median squared distance (float) of the pairs of different identities: ``distances``
    float (M,) and ``same`` bool (M,), e.g. a run's validation pairs. NaN without such pairs."""
    different = torch.as_tensor(distances).double()[~torch.as_tensor(same).bool()]
    return float(different.median()) if different.numel() else math.nan


def unusable_reason(*, tau: float | None, spread: float | None) -> str | None:
    """Why an embedding or threshold cannot decide "same person", or None when both are fine.

    ``spread`` (see :func:`spread`; None or NaN: not known, as in runs written before it was
    recorded) below ``SPREAD_MIN`` means a collapsed embedding; ``tau`` (None: not checked)
    not finite or below ``TAU_MIN`` a threshold that accepts (almost) nothing.
    """
    if spread is not None and math.isfinite(spread) and spread < SPREAD_MIN:
        return (f"the embedding has collapsed: images of different people lie a median d = {spread:.2g} apart "
                f"(of 0..4; below {SPREAD_MIN:g}), too close for any threshold to tell people apart reliably")
    if tau is not None and not (math.isfinite(tau) and tau >= TAU_MIN):
        return (f"its tau {tau:.2g} is unusable: below {TAU_MIN:g}, only near-identical images would be called "
                "the same person")
    return None


def check_usable(run: str, *, tau: float | None, spread: float | None, tau_advice: str = "give --tau T") -> None:
    """RunError naming ``run``, the reason (:func:`unusable_reason`) and what to do, unless
    the embedding and ``tau`` are usable (``tau`` None: a threshold the user chose, not
    checked). ``tau_advice`` says how the user can give another tau."""
    reason = unusable_reason(tau=tau, spread=spread)
    if reason is None:
        return
    collapsed = unusable_reason(tau=None, spread=spread) is not None
    fix = RETRAIN if collapsed else f"{tau_advice} (e.g. eer_tau of `cnnkit faces eval RUN --json`), or {RETRAIN}"
    raise RunError(f"{run}: {reason}; {fix}")
