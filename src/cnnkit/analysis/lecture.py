"""The LeNet-5 and AlexNet layer tables of the lecture notes (seed 004), done right.

The notes list, per layer, the output shape, its total size and the parameter count.
Their shapes are right but their parameter counts are not: convolutions are counted as
``(f*f + 1)*n_f``, which forgets the input channels, and fully connected layers as
``inputs*outputs + 1``, one bias for the whole layer instead of one per output unit.

:func:`lecture_tables` rebuilds both networks (the zoo's ``lenet5`` with
``in_channels=3, variant="original"`` on 32x32x3, and the AlexNet spec below on
227x227x3), traces them with :func:`cnnkit.summary`, and sets every number the notes give
beside the real one. Where they differ, the note works out which wrong formula produces
the notes' number from the real layer's sizes. The notes' numbers are kept here only as
data to be checked; every correct number comes from the traced model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnkit.analysis.render import count
from cnnkit.analysis.summary import LayerRow, LayerTable, summary

__all__ = [
    "ALEXNET_SPEC",
    "LectureRow",
    "LectureTable",
    "lecture_markdown",
    "lecture_rich",
    "lecture_tables",
]

ALEXNET_SPEC = """INPUT(3x227x227) -> CONV(96, k=11, s=4) -> RELU -> POOL(3, s=2)
-> CONV(256, k=5, p=same) -> RELU -> POOL(3, s=2)
-> CONV(384, k=3, p=same) -> RELU -> CONV(384, k=3, p=same) -> RELU
-> CONV(256, k=3, p=same) -> RELU -> POOL(3, s=2)
-> FC(4096) -> RELU -> FC(4096) -> RELU -> FC(1000) -> SOFTMAX"""

# Seed 004 as printed: (layer label, shape, total size, #params, which model row it is).
# The selector is (kind, ordinal): the ordinal-th conv / pool / flatten / fc row, -1 = last.
_NOTES_LENET = (
    ("INPUT", "32 x 32 x 3", 3072, 0, ("input", 0)),
    ("CONV1 (Layer 1)", "28 x 28 x 6", 4704, 156, ("conv", 0)),
    ("POOL1 (Layer 1)", "14 x 14 x 6", 1176, 0, ("pool", 0)),
    ("CONV2 (Layer 2)", "10 x 10 x 16", 1600, 416, ("conv", 1)),
    ("POOL2 (Layer 2)", "5 x 5 x 16", 400, 0, ("pool", 1)),
    ("FC3 (Layer 3)", "120 x 1", 120, 48001, ("fc", 0)),
    ("FC4 (Layer 4)", "84 x 1", 84, 10081, ("fc", 1)),
    ("Softmax", "10 x 1", 10, 841, ("fc", -1)),
)
_NOTES_ALEXNET = (
    ("INPUT", "227 x 227 x 3", 154587, 0, ("input", 0)),
    ("CONV1 (Layer 1)", "55 x 55 x 96", 290400, 11712, ("conv", 0)),
    ("POOL1 (Layer 1)", "27 x 27 x 96", 69984, 0, ("pool", 0)),
    ("CONV2 (Layer 2)", "27 x 27 x 256", 186624, 6656, ("conv", 1)),
    ("POOL2 (Layer 2)", "13 x 13 x 256", 43264, 0, ("pool", 1)),
    ("CONV3 (Layer 3)", "13 x 13 x 384", 64896, 3840, ("conv", 2)),
    ("CONV4 (Layer 3)", "13 x 13 x 384", 64896, 3840, ("conv", 3)),
    ("CONV5 (Layer 3)", "13 x 13 x 256", 43264, 2560, ("conv", 4)),
    ("POOL5 (Layer 3)", "6 x 6 x 256", 9216, 0, ("pool", 2)),
    ("FC5 (Flatten)", "9216 x 1", 9216, 0, ("flatten", 0)),
    ("FC6 (Layer 4)", "4096 x 1", 4096, 37748737, ("fc", 0)),
    ("FC7 (Layer 5)", "4096 x 1", 4096, 16777217, ("fc", 1)),
    ("Softmax", "1000 x 1", 1000, 4096000, ("fc", -1)),
)
_NOTES_ALEXNET_TOTAL = "about 60M"  # the notes' sentence under the table

_KINDS = {
    "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    "pool": (nn.MaxPool2d, nn.AvgPool2d),
    "flatten": (nn.Flatten,),
    "fc": (nn.Linear,),
}


@dataclass
class LectureRow:
    """One line of a lecture table: the real numbers, what the notes say, and why they differ."""

    layer: str
    model_layer: str
    shape: str
    total_size: int
    params: int
    notes_shape: str
    notes_total_size: int
    notes_params: int
    note: str


@dataclass
class LectureTable:
    title: str
    rows: list[LectureRow]
    total_params: int
    notes_total_params: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [vars(r) for r in self.rows],
            "total_params": self.total_params,
            "notes_total_params": self.notes_total_params,
        }


def _notes_shape(shape: tuple[int, ...]) -> str:
    """(6, 28, 28) -> '28 x 28 x 6' (the notes write H x W x C); (120,) -> '120 x 1'."""
    if len(shape) == 1:
        return f"{shape[0]} x 1"
    return " x ".join(str(s) for s in (*shape[1:], shape[0]))


def _pick(table: LayerTable, kind: str, ordinal: int) -> LayerRow:
    matches = [r for r in table.rows if isinstance(r.module, _KINDS[kind])]
    return matches[ordinal]


def _why(row: LayerRow, notes_params: int) -> str:
    """Find the wrong formula that turns this layer's real sizes into the notes' number."""
    module = row.module
    real = row.params
    if isinstance(module, nn.Conv2d):
        f = module.kernel_size[0]
        c_in, n_f = module.in_channels, module.out_channels
        if (f * f + 1) * n_f == notes_params:
            return (
                f"notes use (f*f+1)*n_f = ({f}*{f}+1)*{n_f} = {count(notes_params)}, forgetting the "
                f"{c_in} input channels: (f*f*c_in+1)*c_out = ({f}*{f}*{c_in}+1)*{n_f} = {count(real)}"
            )
    if isinstance(module, nn.Linear):
        i, o = module.in_features, module.out_features
        right = f"inputs*outputs+outputs = {i}*{o}+{o} = {count(real)}"
        if i * o + 1 == notes_params:
            return f"notes count one bias for the whole layer ({i}*{o}+1 = {count(notes_params)}); each unit has its own: {right}"
        if i * o == notes_params:
            return f"notes leave out the biases ({i}*{o} = {count(notes_params)}); with one per unit: {right}"
    return f"notes say {count(notes_params)}, the layer has {count(real)} parameters"


def _lecture_table(title: str, table: LayerTable, notes: tuple[Any, ...], notes_total: str) -> LectureTable:
    rows = []
    for label, n_shape, n_size, n_params, (kind, ordinal) in notes:
        if kind == "input":
            shape, size, params, name = table.totals.input_shape, 1, 0, "(input)"
            for s in shape:
                size *= s
        else:
            row = _pick(table, kind, ordinal)
            shape, size, params, name = row.output_shape, row.neurons, row.params, row.name
        shown = _notes_shape(tuple(shape))
        reasons = []
        if shown != n_shape or size != n_size:
            reasons.append(f"notes give {n_shape} = {n_size:,}; the model computes {shown} = {size:,}")
        if params != n_params:
            reasons.append(_why(row, n_params))
        if label == "Softmax":
            reasons.append(f"this row is the output layer {row.name} (softmax itself has no parameters)")
        if kind == "flatten" and label.startswith("FC"):
            reasons.append("a flatten, not a fully connected layer: it only reshapes")
        rows.append(LectureRow(label, name, shown, size, params, n_shape, n_size, n_params, "; ".join(reasons)))
    return LectureTable(title, rows, table.totals.params, notes_total)


def lecture_tables() -> list[LectureTable]:
    """LeNet-5 on 32x32x3 and AlexNet on 227x227x3, real numbers beside seed 004's."""
    from cnnkit.nn.build import build

    lenet = build("lenet5", in_channels=3, variant="original")
    lenet_table = summary(lenet, (3, 32, 32))
    notes_lenet_total = count(sum(r[3] for r in _NOTES_LENET)) + " (sum of the rows)"
    alexnet_table = summary(ALEXNET_SPEC)
    return [
        _lecture_table("LeNet-5 on 32x32x3 (zoo lenet5, variant original)", lenet_table,
                       _NOTES_LENET, notes_lenet_total),
        _lecture_table("AlexNet on 227x227x3 (the lecture's spec)", alexnet_table,
                       _NOTES_ALEXNET, _NOTES_ALEXNET_TOTAL),
    ]


def lecture_markdown(tables: list[LectureTable]) -> str:
    """The tables as markdown: Layer | Shape | Total Size | #params | notes say | note."""
    out = []
    for t in tables:
        out += [f"### {t.title}", "",
                "| Layer | Shape | Total Size | #params | notes say | note |",
                "| :--- | :--- | ---: | ---: | ---: | :--- |"]
        for r in t.rows:
            said = count(r.notes_params) if r.notes_params != r.params else "same"
            out.append(f"| {r.layer} | {r.shape} | {count(r.total_size)} | {count(r.params)} | {said} | {r.note} |")
        out += ["", f"Total parameters: {count(t.total_params)} (notes: {t.notes_total_params})", ""]
    return "\n".join(out)


def lecture_rich(tables: list[LectureTable]) -> list[Any]:
    """One rich Table per network."""
    from rich.table import Table

    views = []
    for t in tables:
        view = Table(title=t.title, caption=f"Total parameters: {count(t.total_params)} "
                     f"(notes: {t.notes_total_params})", caption_justify="left")
        for h in ("Layer", "Shape", "Total Size", "#params", "notes say", "note"):
            view.add_column(h, justify="right" if h in ("Total Size", "#params", "notes say") else "left",
                            no_wrap=h != "note")
        for r in t.rows:
            said = count(r.notes_params) if r.notes_params != r.params else "same"
            view.add_row(r.layer, r.shape, count(r.total_size), count(r.params), said, r.note)
        views.append(view)
    return views
