"""Look inside a trained CNN: filters, feature maps, saliency, activation maximization,
Deep Dream and images that fool it. Start with :func:`open_subject`."""

from __future__ import annotations

from cnnkit.interpret.subject import Subject, open_subject, subject_from_model

__all__ = ["Subject", "open_subject", "subject_from_model"]
