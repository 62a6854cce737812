"""The learning-rate schedule of FLYP: linear warmup, then cosine decay plus `min_lr`.

Same formula as `cosine_lr` in github.com/locuslab/FLYP (src/models/utils.py), which comes from
github.com/mlfoundations/wise-ft. The learning rate is set before each optimizer step.
"""

from __future__ import annotations

import math

import torch


def learning_rate_at(step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> float:
    """Return the learning rate for 0-based optimizer step `step`.

    Warmup: base_lr * (step + 1) / warmup_steps while step < warmup_steps. Then
    0.5 * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps))) * base_lr + min_lr.
    As in the reference, `min_lr` is added to the cosine, so the rate right after warmup is
    base_lr + min_lr and the last step's rate stays above min_lr.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = (step - warmup_steps) / decay_steps
    return 0.5 * (1.0 + math.cos(math.pi * progress)) * base_lr + min_lr


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
