"""Datasets by name, held in memory as tensors, batched and augmented on the device."""

__all__: list[str] = []
