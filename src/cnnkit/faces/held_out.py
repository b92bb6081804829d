"""Which identities an evaluation of a face run may use: never the ones it was trained on.

A face run is judged on identities it never saw (one-shot learning). Data given to
``cnnkit faces eval`` may still hold training identities: a folder the run's test share was
drawn from, LFW's pairs.txt over every person, a class dataset with every class. Pairs of
those identities score far higher than new faces do, so :func:`held_out_view` leaves them
out (saying so), refuses a pairs file that uses them, or, when asked to include them, keeps
them with a note that the figures are optimistic. Identities match by name (folder or
class name), the name the run stores its training identities under.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch

from cnnkit.errors import DataError
from cnnkit.faces.identities import IdentitySet
from cnnkit.faces.pairs_file import IndexPairs

__all__ = ["held_out_view", "listed_names"]


def listed_names(names: Sequence[str], limit: int = 5) -> str:
    """"a, b, c" or "a, b, c, d, e and 3 more": names for a one-line message."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def held_out_view(
    data: IdentitySet, trained: Collection[str], *, pairs: IndexPairs | None = None,
    keep: Collection[str] | None = None, include_trained: bool = False, pairs_name: str = "the pairs file",
) -> tuple[IdentitySet, IndexPairs | None, list[str]]:
    """(data, pairs, notes) restricted to identities the run never trained on.

    ``trained``: the run's training identity names. ``keep``: only these identities (the
    run's own test identities); None keeps every identity not in ``trained``. ``pairs``
    (index pairs into ``data``, e.g. from a pairs file) are renumbered into the returned
    set; a pair using a left-out identity raises DataError naming how many and which.
    With ``include_trained``, nothing is left out and a note says how many identities were
    trained on. DataError when fewer than two identities are left.
    """
    trained = set(trained)
    seen = [n for n in data.names if n in trained]
    if include_trained:
        notes = [f"{len(seen)} of the {len(data.names)} identities ({listed_names(seen)}) were trained on: these figures "
                 "overstate how the run does on new faces"] if seen else []
        return data, pairs, notes
    wanted = [n for n in data.names if n not in trained and (keep is None or n in keep)]
    left_out = [n for n in data.names if n not in wanted]
    kept_ids = torch.tensor([data.names.index(n) for n in wanted], dtype=torch.int64)
    keep_row = torch.isin(data.identities, kept_ids)  # (N,) bool
    if pairs is not None:
        bad = ~(keep_row[pairs.i] & keep_row[pairs.j])
        if bool(bad.any()):
            names = sorted({data.names[int(data.identities[r])] for r in torch.cat([pairs.i[bad], pairs.j[bad]]).tolist()}
                           & set(left_out))
            raise DataError(f"{pairs_name}: {int(bad.sum())} of {len(pairs)} pairs use identities the run was trained "
                            f"on ({listed_names(names)}); score unseen identities only, or give --include-trained to "
                            "score them anyway (optimistic)")
    if len(wanted) < 2:
        raise DataError(f"{data.source}: {len(wanted)} of its {len(data.names)} identities are unseen by the run "
                        f"(trained on {listed_names(seen) or 'none of them'}); evaluating needs two or more, so give data "
                        "of other identities, or --include-trained to score training identities (optimistic)")
    rows = keep_row.nonzero().flatten()
    view = data.subset(rows, compact=True)
    if pairs is not None:
        new_row = torch.full((len(data),), -1, dtype=torch.int64)
        new_row[rows] = torch.arange(len(rows))
        pairs = IndexPairs(new_row[pairs.i], new_row[pairs.j], pairs.same, pairs.fold)
    notes = []
    if seen:
        notes.append(f"left out {len(seen)} identit{'y' if len(seen) == 1 else 'ies'} the run was trained on "
                     f"({listed_names(seen)}); "
                     "--include-trained scores them too (optimistic)")
    return view, pairs, notes
