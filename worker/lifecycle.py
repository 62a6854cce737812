"""Worker process hooks: preload in the parent, set-up in each pool child, and the reaper's thread.

The parent process never initialises CUDA. It may import torch (`FLYP_WORKER_PRELOAD`), which
loads libraries but creates no CUDA context, so forked children can still use CUDA. Each
child runs exactly one job and exits, and its exit returns all its memory, GPU memory included.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

from worker.context import get_database, settings
from worker.gpus import pin_process_to_gpu, warn_if_gpus_shared

logger = logging.getLogger(__name__)

_reaper: Any = None


@worker_init.connect
def _prepare_parent_process(sender: Any = None, **_kwargs: object) -> None:
    config = settings()
    concurrency = int(getattr(sender, "concurrency", 1) or 1)
    warn_if_gpus_shared(concurrency, device=config.device)
    if config.worker_preload:
        preload_training_libraries()


def preload_training_libraries() -> None:
    """Import torch, open_clip and the training engine once, so forked children skip the import."""
    started = time.monotonic()
    import torch

    import core.training  # noqa: F401 - imported for its side effect of loading open_clip

    logger.info(
        "worker.preloaded seconds=%.1f torch=%s cuda_initialized=%s",
        time.monotonic() - started, torch.__version__, torch.cuda.is_initialized(),
    )


@worker_process_init.connect
def _prepare_child_process(**_kwargs: object) -> None:
    """Give each forked child its own database connections and, on a multi-GPU machine, its own GPU."""
    from billiard.process import current_process

    get_database.cache_clear()
    pin_process_to_gpu(getattr(current_process(), "index", 0) or 0, device=settings().device)


@worker_ready.connect
def _start_reaper(**_kwargs: object) -> None:
    global _reaper
    from core.store.db import Database
    from worker.dispatch import JobSender
    from worker.reaper import Reaper

    config = settings()
    sender = JobSender(config)
    _reaper = Reaper(config, Database(config.resolved_database_url), sender.send, send_dataset=sender.send_dataset)
    _reaper.start()


@worker_shutdown.connect
def _stop_reaper(**_kwargs: object) -> None:
    if _reaper is not None:
        _reaper.stop()
