"""Two workers on a Redis server of this module's own: redelivery, a Redis restart, a broker
that is down at submit time, and 20 jobs at once, of which the first two run side by side.

Redis runs without persistence, so a restart loses every message in it; the reaper must send
the messages of queued jobs again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.fault_tools import RedisServer, event_kinds, models_of, own_database, wait_for
from tests.data import build_zip
from tests.e2e.flows import create_job, upload_dataset
from tests.stack import Stack, distributed_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUEUE_SETTINGS = {
    "visibility_timeout": "5",
    "lease_seconds": "4",
    "reaper_interval": "1",
    "redispatch_after": "15",
    "max_attempts": "3",
    # The 20-job test queues more jobs at once than the default per-tenant limit allows.
    "tenant_max_active_jobs": "0",
}
QUICK_HYPERPARAMETERS = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3, "templates": "simple", "seed": 0, "wise_ft_alphas": [1.0]}
# 24 steps over the 48 training photos: long enough to be running while Redis restarts.
MEDIUM_HYPERPARAMETERS = {"epochs": 2, "batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 2, "templates": "simple", "seed": 0, "wise_ft_alphas": [1.0]}
# 72 steps: longer than the 5 s visibility timeout plus Redis's 2 s restore scan, with room to spare.
LONG_HYPERPARAMETERS = {"epochs": 3, "batch_size": 2, "learning_rate": 1e-3, "warmup_steps": 2, "templates": "simple", "seed": 0, "wise_ft_alphas": [1.0]}
WAIT_SECONDS = 600


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def queue_stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("queue")
    with own_database() as database_url:
        with distributed_stack(data, database_url=database_url, broker_url=redis_server.url, queue="flyp", workers=2, **QUEUE_SETTINGS) as running:
            yield running


@pytest.fixture(scope="module")
def dataset(queue_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return upload_dataset(queue_stack, tmp_path_factory.mktemp("queue-upload"))


@pytest.fixture(scope="module")
def small_dataset(queue_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """8 training and 4 validation photos per class, for the many short jobs."""
    archive = build_zip(tmp_path_factory.mktemp("queue-small") / "small.zip", train_per_class=8, val_per_class=4)
    with open(archive, "rb") as upload:
        response = queue_stack.client.post("/v1/datasets", files={"file": ("small.zip", upload, "application/zip")}, data={"name": "small"})
    assert response.status_code == 201, response.text
    return response.json()


def _job(stack: Stack, job_id: str) -> dict:
    return stack.client.get(f"/v1/jobs/{job_id}").json()


def _assert_ran_once(stack: Stack, job_id: str) -> None:
    finished = stack.wait_for_job(job_id, timeout=WAIT_SECONDS)
    assert finished["status"] == "succeeded", f"{finished}\n{stack.logs()}"
    assert finished["attempt"] == 1
    assert event_kinds(stack, job_id).count("running") == 1
    models = models_of(stack, job_id)
    assert len(models) == 1
    assert models[0]["status"] == "ready"


def test_redelivered_job_trains_once(queue_stack: Stack, dataset: dict) -> None:
    job = create_job(queue_stack, dataset["id"], hyperparameters=LONG_HYPERPARAMETERS)
    _assert_ran_once(queue_stack, job["id"])

    skipped = [process.name for process in queue_stack.processes if f"job.skip job_id={job['id']}" in process.log_text()]
    assert skipped, "Redis never redelivered the message: the job ended within the visibility timeout; make it longer"


def test_redis_restart_while_jobs_run(queue_stack: Stack, dataset: dict, redis_server: RedisServer) -> None:
    jobs = [create_job(queue_stack, dataset["id"], hyperparameters=MEDIUM_HYPERPARAMETERS) for _ in range(3)]
    wait_for(lambda: _job(queue_stack, jobs[0]["id"])["status"] == "running", WAIT_SECONDS, "no job started")

    redis_server.stop()
    redis_server.start()

    for job in jobs:
        _assert_ran_once(queue_stack, job["id"])


def test_broker_down_at_submit(queue_stack: Stack, small_dataset: dict, redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        job = create_job(queue_stack, small_dataset["id"], hyperparameters=QUICK_HYPERPARAMETERS)
        assert job["status"] == "queued"
        assert "dispatch_failed" in event_kinds(queue_stack, job["id"])
    finally:
        redis_server.start()

    _assert_ran_once(queue_stack, job["id"])


def test_twenty_jobs_run_exactly_once(queue_stack: Stack, small_dataset: dict) -> None:
    jobs = [create_job(queue_stack, small_dataset["id"], hyperparameters=QUICK_HYPERPARAMETERS) for _ in range(20)]

    for job in jobs:
        _assert_ran_once(queue_stack, job["id"])
    model_ids = {job_model["id"] for job in jobs for job_model in models_of(queue_stack, job["id"])}
    assert len(model_ids) == 20
    # With prefetch 1 each worker reserves only the message it runs, so the second job
    # starts on the other worker before the first ends.
    first, second = (_job(queue_stack, job["id"]) for job in jobs[:2])
    assert max(first["started_at"], second["started_at"]) < min(first["finished_at"], second["finished_at"])
