"""Celery configuration shared by the API (which sends tasks) and the workers (which run them).

Only plain values live here, so core stays free of Celery imports.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings

RUN_JOB_TASK = "flyp.run_job"
INGEST_DATASET_TASK = "flyp.ingest_dataset"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return Celery settings for long training tasks whose state lives in the database."""
    config: dict[str, Any] = {
        "broker_url": settings.resolved_broker_url,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # A message is acknowledged only after the task ends, and one whose worker died is
        # redelivered; the database claim makes a second delivery harmless.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # One job per child process: a crash or an out-of-memory kill takes only that child,
        # and the memory (GPU memory too) of a finished job goes back with the process.
        "worker_max_tasks_per_child": 1,
        # A new child must report ready within this time or Celery kills it and forks again.
        # Celery's 4 s default is too short on a loaded machine, which then loops forever.
        "worker_proc_alive_timeout": 60,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }
    if settings.uses_filesystem_broker:
        folder = str((settings.broker_dir / "queue").resolve())
        config["broker_transport_options"] = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "processed_folder": str((settings.broker_dir / "processed").resolve()),
            # kombu's default is "control" in the working directory.
            "control_folder": str((settings.broker_dir / "control").resolve()),
            "store_processed": False,
        }
    else:
        config["broker_transport_options"] = {"visibility_timeout": settings.visibility_timeout}
    return config
