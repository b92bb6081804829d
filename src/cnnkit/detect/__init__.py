"""Object detection: boxes, IoU and NMS (torchvision.ops), anchors, sliding windows, a
YOLO-style detector, and mAP through torchmetrics. The data contract is
:class:`cnnkit.detect.sample.DetectionSet`."""

__all__: list[str] = []
