"""``cnnkit detect ...``: object detection (the group; commands come from their modules)."""

from __future__ import annotations

import typer

__all__ = ["group", "register"]

group = typer.Typer(
    help="Object detection: scenes, a YOLO-style detector, mAP, localization with landmarks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    from cnnkit.cli import detect_localize, detect_yolo

    for module in (detect_yolo, detect_localize):
        module.register(group)
    app.add_typer(group, name="detect")
