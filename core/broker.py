"""Celery configuration shared by the API (which sends tasks) and the workers (which run them).

Only plain values live here, so core stays free of Celery imports.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings

RUN_JOB_TASK = "flyp.run_job"
INGEST_DATASET_TASK = "flyp.ingest_dataset"

# A prefork child must report that it started within this many seconds or the parent kills
# it. Celery's default of 4 s is too short for a child on a busy machine.
CHILD_START_TIMEOUT_SECONDS = 60.0
# Grace between Celery's soft time limit (the job fails cleanly) and the hard one (the child
# process is killed).
HARD_TIME_LIMIT_GRACE_SECONDS = 60
# Maximum interval between two scans of Redis for unacknowledged messages past the visibility timeout.
MAX_RESTORE_INTERVAL_SECONDS = 60


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return Celery settings for long training tasks whose state lives in the database."""
    config: dict[str, Any] = {
        "broker_url": settings.resolved_broker_url,
        "broker_connection_retry_on_startup": True,
        # A worker keeps reconnecting to a broker that is down instead of exiting after 100 tries.
        "broker_connection_max_retries": None,
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
        # A lost broker connection must not kill a training job: the job's lease lives in the
        # database, and a redelivered copy of its message is skipped.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # One job per child process: a crash or an out-of-memory kill takes only that child,
        # and the memory (GPU memory too) of a finished job goes back with the process.
        "worker_max_tasks_per_child": 1,
        "worker_proc_alive_timeout": CHILD_START_TIMEOUT_SECONDS,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        # A publish fails after about a second when the broker is down; the reaper sends the
        # message once the broker is back.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        **_time_limits(settings),
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
        config["broker_transport_options"] = _redis_transport_options(settings)
    return config


def _time_limits(settings: Settings) -> dict[str, Any]:
    if not settings.job_time_limit:
        return {}
    return {
        "task_soft_time_limit": settings.job_time_limit,
        "task_time_limit": settings.job_time_limit + HARD_TIME_LIMIT_GRACE_SECONDS,
    }


def _redis_transport_options(settings: Settings) -> dict[str, Any]:
    # kombu scans for unacknowledged messages every interval * throttle seconds, 100 s by
    # default. With a throttle of 1 the scan runs every interval, at least twice per timeout.
    restore_interval = max(1, min(MAX_RESTORE_INTERVAL_SECONDS, settings.visibility_timeout // 2))
    return {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": restore_interval,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
    }
