"""Classification metrics of one evaluation: accuracy, macro-F1, per-class accuracy, confusion matrix, loss."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, *, num_classes: int) -> dict:
    """Return JSON-ready metrics of `logits` (N, C) against integer `labels` (N,).

    macro_f1 averages per-class F1 over the classes present in the labels or the predictions,
    as scikit-learn's f1_score(average="macro") does. per_class_accuracy is None for a class
    without images. Rows of confusion_matrix are true classes, columns predicted ones.
    """
    logits = logits.float().cpu()
    labels = labels.long().cpu()
    predictions = logits.argmax(dim=1)
    confusion = _confusion_matrix(labels.numpy(), predictions.numpy(), num_classes)
    support = confusion.sum(axis=1)
    correct = np.diag(confusion)
    per_class = [float(correct[c] / support[c]) if support[c] else None for c in range(num_classes)]
    return {
        "num_images": int(len(labels)),
        "accuracy": float(correct.sum() / max(len(labels), 1)),
        "macro_f1": _macro_f1(confusion),
        "loss": _mean_cross_entropy(logits, labels),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def _mean_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Return the mean cross-entropy, or None when there are no images or it is not finite (JSON has no NaN)."""
    if len(labels) == 0:
        return None
    value = float(F.cross_entropy(logits, labels).item())
    return value if math.isfinite(value) else None


def _confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    flat = labels * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _macro_f1(confusion: np.ndarray) -> float:
    true_positive = np.diag(confusion).astype(np.float64)
    false_positive = confusion.sum(axis=0) - true_positive
    false_negative = confusion.sum(axis=1) - true_positive
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    if not present.any():
        return 0.0
    denominator = 2 * true_positive + false_positive + false_negative
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    return float(f1[present].mean())
