"""`flyp serve` (SQLite, filesystem queue, one worker) recovers a job whose training process was killed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.e2e.fault_tools import checkpoint_written, event_kinds, events, models_of, wait_for, worker_pid
from tests.e2e.flows import create_job, upload_dataset
from tests.stack import embedded_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A lease long enough that Celery's redelivery of the killed task arrives while the lease is
# still valid, so only the reaper can start the next attempt.
RECOVERY_SETTINGS = {"lease_seconds": "10", "reaper_interval": "1", "redispatch_after": "5", "max_attempts": "3"}
SLOW_HYPERPARAMETERS = {"epochs": 3, "batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 2, "templates": "simple", "seed": 0, "wise_ft_alphas": [1.0]}
WAIT_SECONDS = 300


def test_embedded_killed_training_resumes(tmp_path: Path) -> None:
    with embedded_stack(tmp_path / "var", **RECOVERY_SETTINGS) as running:
        dataset = upload_dataset(running, tmp_path)
        job = create_job(running, dataset["id"], hyperparameters=SLOW_HYPERPARAMETERS)
        wait_for(lambda: checkpoint_written(running, job["id"], 1), WAIT_SECONDS, f"no epoch 1 checkpoint\n{running.logs()}")
        started = next(event for event in events(running, job["id"]) if event["data"].get("status") == "running")

        os.kill(worker_pid(started["data"]["worker_id"]), signal.SIGKILL)
        finished = running.wait_for_job(job["id"], timeout=WAIT_SECONDS)

        assert finished["status"] == "succeeded", f"{finished}\n{running.logs()}"
        assert finished["attempt"] == 2
        kinds = event_kinds(running, job["id"])
        assert kinds.count("requeued") == 1
        assert kinds.count("resumed") == 1
        assert len(models_of(running, job["id"])) == 1
