"""Users' detection data: YOLO text labels and COCO json, read into and written from a
:class:`~cnnkit.detect.sample.DetectionSet`. This module gathers the public API; the pieces
live in:

- :mod:`cnnkit.detect.yolo_folder`: the YOLO layout (images/, labels/, classes.txt or
  data.yaml): :func:`read_yolo`, :func:`write_yolo`, :func:`read_yolo_classes`, the box
  format :func:`yolo_to_xyxy` / :func:`xyxy_to_yolo`, :data:`IMAGE_SUFFIXES`;
- :mod:`cnnkit.detect.coco_json`: one COCO instances json: :func:`read_coco`,
  :func:`write_coco`;
- :mod:`cnnkit.detect.annotated_images`: what both share: an image as read with its
  objects, box checks (clipping within ``tolerance``, DataErrors naming the file and line
  or the annotation id), resizing every image to one size (:data:`RESIZE_MODES`:
  ``"letterbox"`` keeps the aspect ratio and centres on black, ``"stretch"`` does not;
  boxes and keypoints follow) and PNG writing.
"""

from __future__ import annotations

from cnnkit.detect.annotated_images import RESIZE_MODES
from cnnkit.detect.coco_json import read_coco, write_coco
from cnnkit.detect.yolo_folder import (
    IMAGE_SUFFIXES,
    read_yolo,
    read_yolo_classes,
    write_yolo,
    xyxy_to_yolo,
    yolo_to_xyxy,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "RESIZE_MODES",
    "read_coco",
    "read_yolo",
    "read_yolo_classes",
    "write_coco",
    "write_yolo",
    "xyxy_to_yolo",
    "yolo_to_xyxy",
]
