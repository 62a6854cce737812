"""Evaluating a model with a head on cached evaluation images."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from core.models.preprocessing import Preprocessing
from core.training.heads import ClassifierHead
from core.training.image_cache import ImageCache
from core.training.metrics import classification_metrics

EVAL_BATCH_SIZE = 128


@dataclass
class EvalSet:
    """Evaluation images (a cache of the "eval" kind) with labels indexing the job's classes."""

    name: str
    cache: ImageCache
    labels: torch.Tensor
    indices: np.ndarray | None = None  # rows of the cache to use; None means all

    def __len__(self) -> int:
        return len(self.labels)

    def pixels(self) -> np.ndarray:
        stacked = self.cache.stacked()
        return stacked if self.indices is None else stacked[self.indices]


def encode_images(
    model: torch.nn.Module,
    eval_set: EvalSet,
    *,
    preprocessing: Preprocessing,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
) -> torch.Tensor:
    """Return the image features (N, D) of `eval_set` in fp32 on the CPU, with the model in eval mode.

    Runs under no_grad rather than inference_mode because the linear probe trains on these
    features, and inference tensors cannot be saved for backward.
    """
    was_training = model.training
    model.eval()
    pixels = eval_set.pixels()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(pixels), EVAL_BATCH_SIZE):
            batch = torch.from_numpy(np.array(pixels[start : start + EVAL_BATCH_SIZE])).permute(0, 3, 1, 2)
            with autocast():
                features = model.encode_image(preprocessing.normalize(batch.to(device, non_blocking=True)))
            chunks.append(features.float().cpu())
    model.train(was_training)
    if not chunks:
        return torch.zeros(0, 0)
    return torch.cat(chunks)


def evaluate_features(features: torch.Tensor, labels: torch.Tensor, head: ClassifierHead) -> dict:
    """Return classification metrics of `head` on precomputed image features."""
    num_classes = head.weight.shape[0]
    if len(labels) == 0:
        return classification_metrics(torch.zeros(0, num_classes), labels, num_classes=num_classes)
    return classification_metrics(head.to("cpu").logits(features), labels, num_classes=num_classes)
