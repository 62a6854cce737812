"""The training batches of one epoch as a map-style dataset indexed by step."""

from __future__ import annotations

import multiprocessing
import os

import torch
from torch.utils.data import DataLoader, Dataset

from core.models.preprocessing import Preprocessing
from core.training.augment import random_resized_crop, sample_rng
from core.training.image_cache import ImageCache

MAX_DEFAULT_WORKERS = 4


class EpochBatches(Dataset):
    """Batch k holds the augmented uint8 images of `batches[k]`, the (image, template) pairs of global step `first_step + k`."""

    def __init__(self, cache: ImageCache, batches: list[torch.Tensor], *, first_step: int, seed: int, preprocessing: Preprocessing) -> None:
        self.cache = cache
        self.batches = batches
        self.first_step = first_step
        self.seed = seed
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = self.batches[index]
        step = self.first_step + index
        images = [
            random_resized_crop(self.cache.image(int(image_index)), sample_rng(self.seed, step, sample), self.preprocessing)
            for sample, image_index in enumerate(pairs[:, 0].tolist())
        ]
        return torch.stack(images), pairs


def batch_loader(batches: EpochBatches, *, num_workers: int, pin_memory: bool) -> DataLoader:
    """Return a DataLoader yielding one prepared batch per step, in order."""
    return DataLoader(
        batches,
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=2 if num_workers else None,
    )


def resolve_num_workers(requested: int | None, *, device: torch.device) -> tuple[int, list[str]]:
    """Return the DataLoader worker count to use and warnings about reductions.

    Daemon processes (Celery's prefork pool children) cannot start child processes, so
    workers drop to 0 there instead of failing the job.
    """
    warnings = []
    if requested is None:
        requested = min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1) if device.type == "cuda" else 0
    if requested > 0 and multiprocessing.current_process().daemon:
        warnings.append(f"num_workers {requested} reduced to 0: this process is a daemon (for example a Celery pool worker) and cannot start worker processes")
        requested = 0
    return requested, warnings
