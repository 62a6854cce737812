"""Device and numeric precision of a training run."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Callable

import torch

from core.errors import TrainingError


def resolve_device(device: str) -> torch.device:
    """Turn "auto", "cpu", "cuda" or "cuda:N" into a torch device that exists here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise TrainingError("invalid_device", f"invalid device {device!r}: use auto, cpu, cuda or cuda:N") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device_unavailable", f"device {device!r} was requested but CUDA is not available on this worker")
    if resolved.type not in ("cpu", "cuda"):
        raise TrainingError("invalid_device", f"device type {resolved.type!r} is not supported: use auto, cpu, cuda or cuda:N")
    return resolved


def resolve_precision(requested: str, device: torch.device) -> tuple[str, list[str]]:
    """Return the precision to run ("bf16" or "fp32") and warnings about any change.

    Weights and optimizer state stay fp32 in every case; "bf16" only autocasts the forward
    pass on CUDA. fp16 is rejected before a job starts (see resolve_hyperparameters).
    """
    if requested == "fp16":
        raise TrainingError("unsupported_precision", "precision fp16 is not offered; use bf16 or fp32")
    if device.type != "cuda":
        warnings = [f"precision {requested} is not available on {device.type}; training in fp32"] if requested == "bf16" else []
        return "fp32", warnings
    if requested in ("auto", "bf16") and not torch.cuda.is_bf16_supported():
        return "fp32", [f"this GPU does not support bf16; training in fp32 instead of {requested}"]
    return ("bf16" if requested in ("auto", "bf16") else "fp32"), []


def autocast_factory(device: torch.device, precision: str) -> Callable[[], AbstractContextManager]:
    """Return a function that opens the autocast context for forward passes."""
    if precision == "bf16" and device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext
