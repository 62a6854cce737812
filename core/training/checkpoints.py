"""Per-epoch checkpoints in a job's work directory, so a restarted job resumes where it stopped.

`epoch-NNNN.pt` holds what the next epoch needs: the trainable module, the optimizer, the
pair sampler, the metrics so far and a fingerprint of the job's settings. Only the newest is
kept. `best.safetensors` holds the weights of the best validation epoch so far. Files are
written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_WEIGHTS = "best.safetensors"


def job_fingerprint(**settings: object) -> str:
    """Return a hash of the settings that must match for a checkpoint to be resumed."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def save_epoch_checkpoint(work_dir: Path, epoch: int, payload: dict) -> Path:
    directory = work_dir / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"epoch-{epoch:04d}.pt"
    _atomic_write(target, lambda path: torch.save(payload, path))
    for older in directory.glob("epoch-*.pt"):
        if older != target:
            older.unlink(missing_ok=True)
    return target


def load_latest_checkpoint(work_dir: Path, fingerprint: str) -> dict | None:
    """Return the newest checkpoint written with `fingerprint`, or None."""
    candidates = sorted((work_dir / CHECKPOINT_DIR).glob("epoch-*.pt"), reverse=True)
    for path in candidates:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as error:
            logger.warning("checkpoint.unreadable path=%s error=%s", path, error)
            continue
        if payload.get("fingerprint") == fingerprint:
            return payload
        logger.warning("checkpoint.fingerprint_mismatch path=%s", path)
    return None


def save_best_weights(work_dir: Path, state: dict[str, torch.Tensor]) -> None:
    target = work_dir / CHECKPOINT_DIR / BEST_WEIGHTS
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(target, lambda path: save_file(to_saveable(state), str(path)))


def load_best_weights(work_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(work_dir / CHECKPOINT_DIR / BEST_WEIGHTS))


def to_saveable(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy tensors to contiguous CPU tensors that share no memory, as safetensors requires."""
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in state.items()}


def _atomic_write(target: Path, write: callable) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(descriptor)
    try:
        write(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
