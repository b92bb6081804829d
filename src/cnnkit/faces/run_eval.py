"""Scoring a finished face run again (what ``cnnkit faces eval`` does), on unseen identities only.

By default the run's own test identities (``test_identities`` in its config.json; runs from
before they were recorded: every identity of the test source but the training ones), read
as training read them; with ``data``, every identity of that data except the training ones
(:func:`~cnnkit.faces.held_out.held_out_view`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnkit.errors import CnnkitError

__all__ = ["eval_run"]


def eval_run(run: str | Path, *, data: str | None = None, pairs_file: str | Path | None = None, pairs: int = 3000,
             seed: int = 0, include_trained: bool = False, device: str = "auto") -> dict[str, Any]:
    """:func:`~cnnkit.faces.run_train.evaluate` of the run at ``run`` on identities it never
    trained on (see the module docstring), JSON-ready, without the per-pair lists.

    ``pairs_file``: LFW's pairs.txt format over ``data`` (a pair of training identities is a
    DataError); else ``pairs`` random same and different pairs drawn with ``seed + 1``.
    ``include_trained`` keeps the training identities, with a note. ``device``: where the
    embedder runs (``auto``: cuda, mps, else cpu). Extra keys: ``run``,
    ``data`` (the source text), ``trained_identities`` (how many of the scored identities
    were trained on: 0 unless ``include_trained``); ``notes`` says what was left out and
    whether the run's embedding collapsed.
    """
    from cnnkit.faces.collapse import unusable_reason
    from cnnkit.faces.held_out import held_out_view
    from cnnkit.faces.identity_sources import load_identities
    from cnnkit.faces.pairs_file import read_pairs
    from cnnkit.faces.run import load_embedder
    from cnnkit.faces.run_train import eval_pairs, evaluate, is_class_source
    from cnnkit.train.device import choose_device

    loaded = load_embedder(run, device=choose_device(device))
    config = loaded.config
    source = data or config.get("test_source")
    if not source:
        raise CnnkitError(f"{run}/config.json names no test data; give --data")
    if not data:  # the run's own data: say so plainly when its folder has moved
        from cnnkit.data.reference import check_reference

        check_reference(source, run=run)
    c, h, w = loaded.metadata.input_shape
    split = "test" if is_class_source(source) else "train"
    sample = {}
    if not data and config.get("test_data") is None and not is_class_source(source):
        # the test people were split from the training folder: read it as training did (--per-identity)
        sample = {"per_identity": config.get("per_identity"), "seed": int(config.get("seed", 0))}
    part = load_identities(source, split=split, image_size=(h, w), channels=c, **sample)
    chosen = read_pairs(pairs_file, part) if pairs_file else None
    trained = {*loaded.metadata.identities, *config.get("train_identities", [])}
    keep = None if data else config.get("test_identities")
    part, chosen, notes = held_out_view(part, trained, pairs=chosen, keep=keep, include_trained=include_trained,
                                        pairs_name=str(pairs_file))
    if chosen is None:
        chosen = eval_pairs(part, pairs, seed + 1)
    result = evaluate(loaded.net, part, chosen, tau=loaded.tau, seed=seed)
    result["notes"] = notes + result.get("notes", [])
    problem = unusable_reason(tau=loaded.tau, spread=loaded.metadata.spread)
    if problem is not None:  # the figures still say how far apart the embeddings lie
        result["notes"].append(f"{problem}; verify and identify refuse this run")
    extra = {"run": str(run), "data": source, "trained_identities": sum(n in trained for n in part.names)}
    return {**extra, **{k: v for k, v in result.items() if k not in ("distances", "same")}}
