"""One job per GPU: each pool process of a worker trains on its own GPU.

GPUs are counted from the NVIDIA driver's /proc entries, because asking CUDA would
initialise it in the worker's parent process, and a forked child cannot use CUDA then.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

NVIDIA_GPUS_DIR = Path("/proc/driver/nvidia/gpus")


def count_gpus(gpus_dir: Path = NVIDIA_GPUS_DIR) -> int:
    """Return the number of NVIDIA GPUs the driver lists, 0 without the driver."""
    try:
        return sum(1 for _ in gpus_dir.iterdir())
    except OSError:
        return 0


def gpu_for_process(process_index: int, gpu_count: int) -> str | None:
    """Return the CUDA_VISIBLE_DEVICES value for pool process `process_index`, or None to leave it unset."""
    if gpu_count < 2:
        return None
    return str(process_index % gpu_count)


def pin_process_to_gpu(process_index: int, *, device: str) -> None:
    """Make pool process `process_index` see one GPU, unless the operator chose the devices."""
    if device == "cpu" or "CUDA_VISIBLE_DEVICES" in os.environ:
        return
    visible = gpu_for_process(process_index, count_gpus())
    if visible is not None:
        # NOTE: checked only by unit tests on a machine without GPUs.
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
        logger.info("worker.gpu_pinned process_index=%d cuda_visible_devices=%s", process_index, visible)


def warn_if_gpus_shared(concurrency: int, *, device: str) -> None:
    gpu_count = count_gpus()
    if device != "cpu" and 0 < gpu_count < concurrency:
        logger.warning(
            "worker.gpus_shared concurrency=%d gpus=%d: some GPUs run two jobs at once; use --concurrency %d", concurrency, gpu_count, gpu_count
        )
