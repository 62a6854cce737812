"""Jobs under injected faults, on a stack of this module's own (PostgreSQL, Redis, real processes).

Two workers, short leases (4 s) and a reaper scanning every second make a lost worker's job
move to the other worker within seconds.
"""

from __future__ import annotations

import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.data import CLASSES, photos
from tests.e2e.fault_tools import (
    checkpoint_written,
    data_dir,
    dataset_storage_dir,
    event_kinds,
    events,
    models_of,
    own_database,
    restart_api,
    wait_for,
    worker_pid,
)
from tests.e2e.flows import create_job, upload_dataset
from tests.stack import Stack, distributed_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAULT_SETTINGS = {"lease_seconds": "4", "reaper_interval": "1", "redispatch_after": "5", "max_attempts": "3"}
# 12 steps per epoch over the 48 training photos, so a test can act between steps.
SLOW_HYPERPARAMETERS = {"epochs": 3, "batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 2, "templates": "simple", "seed": 0, "wise_ft_alphas": [1.0]}
QUICK_HYPERPARAMETERS = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3, "templates": "simple", "seed": 0, "wise_ft_alphas": [1.0]}
WAIT_SECONDS = 300


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("faults")
    with own_database() as database_url:
        queue = f"flyp-faults-{data.name}-{id(data)}"
        with distributed_stack(data, database_url=database_url, broker_url=redis_url, queue=queue, workers=2, **FAULT_SETTINGS) as running:
            yield running


@pytest.fixture(scope="module")
def dataset(fault_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return upload_dataset(fault_stack, tmp_path_factory.mktemp("faults-upload"))


def _job(stack: Stack, job_id: str) -> dict:
    return stack.client.get(f"/v1/jobs/{job_id}").json()


def _worker_logs(stack: Stack) -> str:
    return "\n".join(process.log_text() for process in stack.processes if process.name.startswith("worker"))


def _parent_pid(pid: int) -> int:
    # /proc/PID/stat: "pid (name) state ppid ..."; the name may contain spaces.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_killed_worker_job_resumes(fault_stack: Stack, dataset: dict) -> None:
    job = create_job(fault_stack, dataset["id"], hyperparameters=SLOW_HYPERPARAMETERS)
    wait_for(lambda: checkpoint_written(fault_stack, job["id"], 1), WAIT_SECONDS, f"no epoch 1 checkpoint\n{fault_stack.logs()}")
    started = next(event for event in events(fault_stack, job["id"]) if event["data"].get("status") == "running")
    owner = _parent_pid(worker_pid(started["data"]["worker_id"]))

    # SIGKILL the whole worker, parent and training child; the other worker's reaper takes over.
    next(process for process in fault_stack.processes if process.popen.pid == owner).kill()
    assert _job(fault_stack, job["id"])["status"] == "running"
    finished = fault_stack.wait_for_job(job["id"], timeout=WAIT_SECONDS)

    assert finished["status"] == "succeeded", f"{finished}\n{fault_stack.logs()}"
    assert finished["attempt"] == 2
    kinds = event_kinds(fault_stack, job["id"])
    assert kinds.count("requeued") == 1
    assert kinds.count("resumed") == 1
    assert kinds.count("succeeded") == 1
    assert finished["metrics"]["training"]["resumed_from_epoch"] >= 1
    models = models_of(fault_stack, job["id"])
    assert len(models) == 1
    assert models[0]["status"] == "ready"
    model_dirs = [path.name for path in (data_dir(fault_stack) / "models").iterdir() if models[0]["id"] in path.name]
    assert model_dirs == [models[0]["id"]]
    assert not (data_dir(fault_stack) / "jobs" / job["id"]).exists()


def test_api_restart_keeps_jobs_and_stream(fault_stack: Stack, dataset: dict) -> None:
    running = create_job(fault_stack, dataset["id"], hyperparameters=SLOW_HYPERPARAMETERS)
    queued = create_job(fault_stack, dataset["id"], hyperparameters=QUICK_HYPERPARAMETERS)
    first_part = _StreamReader(fault_stack.base_url, running["id"], last_event_id=None)
    wait_for(lambda: _job(fault_stack, running["id"])["status"] == "running", WAIT_SECONDS, "the job never started")
    wait_for(lambda: len(first_part.events) >= 2, 60, "the stream sent no events")

    restart_api(fault_stack)
    first_part.join()
    assert first_part.ended is False
    second_part = _StreamReader(fault_stack.base_url, running["id"], last_event_id=first_part.events[-1]["id"])
    second_part.join()

    for job in (running, queued):
        finished = fault_stack.wait_for_job(job["id"], timeout=WAIT_SECONDS)
        assert finished["status"] == "succeeded", f"{finished}\n{fault_stack.logs()}"
        assert finished["attempt"] == 1
    assert second_part.ended is True
    streamed = [event["id"] for event in first_part.events + second_part.events]
    assert streamed == [event["id"] for event in events(fault_stack, running["id"])]


class _StreamReader:
    """Read a job's event stream in a thread until it ends or the connection breaks."""

    def __init__(self, base_url: str, job_id: str, *, last_event_id: int | None) -> None:
        self.events: list[dict] = []
        self.ended = False
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._request = (f"{base_url}/v1/jobs/{job_id}/events", headers)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=WAIT_SECONDS)

    def _read(self) -> None:
        url, headers = self._request
        kind = None
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=60)) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "job.event":
                        self.events.append(json.loads(line.removeprefix("data: ")))
                    elif line.startswith("data: ") and kind == "end":
                        self.ended = True
        except httpx.HTTPError:
            return


def test_cancel_running_job_stops_and_cleans(fault_stack: Stack, dataset: dict) -> None:
    job = create_job(fault_stack, dataset["id"], hyperparameters=SLOW_HYPERPARAMETERS)
    wait_for(lambda: (_job(fault_stack, job["id"])["progress"] or {}).get("step", 0) >= 2, WAIT_SECONDS, "the job made no progress")
    model_id = models_of(fault_stack, job["id"])[0]["id"]

    response = fault_stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    cancelled = response.json()
    work_dir = data_dir(fault_stack) / "jobs" / job["id"]
    wait_for(lambda: f"job.stopped job_id={job['id']}" in _worker_logs(fault_stack), 120, "the worker never stopped training")
    wait_for(lambda: not work_dir.exists(), 30, f"{work_dir} was not removed")

    final = _job(fault_stack, job["id"])
    assert final["status"] == "cancelled"
    assert final["progress"] == cancelled["progress"]
    assert not (data_dir(fault_stack) / "models" / model_id).exists()
    assert events(fault_stack, job["id"])[-1]["message"] == "Job cancelled."
    again = fault_stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_not_cancellable"


def test_deleted_dataset_files_fail_job(fault_stack: Stack, tmp_path: Path) -> None:
    # Fewer photos than the shared `dataset`, so the two do not share a storage directory.
    doomed = upload_dataset(fault_stack, tmp_path, train_per_class=8)
    shutil.rmtree(dataset_storage_dir(fault_stack, doomed["id"]))

    job = create_job(fault_stack, doomed["id"], hyperparameters=QUICK_HYPERPARAMETERS)
    failed = fault_stack.wait_for_job(job["id"], timeout=WAIT_SECONDS)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "dataset_files_missing"
    assert doomed["id"] in failed["error"]["message"]
    assert "Upload the dataset again" in failed["error"]["message"]
    assert "Traceback" not in failed["error"]["message"]
    assert models_of(fault_stack, job["id"])[0]["status"] == "failed"


def test_dataloader_workers_inside_worker(fault_stack: Stack, dataset: dict) -> None:
    hyperparameters = dict(QUICK_HYPERPARAMETERS, num_workers=4)
    job = create_job(fault_stack, dataset["id"], hyperparameters=hyperparameters)
    finished = fault_stack.wait_for_job(job["id"], timeout=WAIT_SECONDS)

    assert finished["status"] == "succeeded", f"{finished}\n{fault_stack.logs()}"
    used = finished["metrics"]["training"]["num_workers"]
    warnings = [event["message"] for event in events(fault_stack, job["id"]) if event["level"] == "warning"]
    if used != 4:
        assert any("num_workers 4 reduced" in message for message in warnings), warnings


def test_jobs_run_in_fresh_children(fault_stack: Stack) -> None:
    """Every job of the tests above ran in a pool child of its own; no worker parent maps the CUDA driver."""
    jobs = fault_stack.client.get("/v1/jobs", params={"limit": 100}).json()["data"]
    started = [event for job in jobs for event in events(fault_stack, job["id"]) if event["data"].get("status") == "running"]
    pids = [worker_pid(event["data"]["worker_id"]) for event in started]
    parents = [process.popen.pid for process in fault_stack.processes if process.name.startswith("worker")]

    assert len(pids) >= 2
    assert len(set(pids)) == len(pids)
    assert not set(pids) & set(parents)
    for parent in parents:
        maps_path = Path(f"/proc/{parent}/maps")
        if maps_path.exists():
            assert "libcuda.so" not in maps_path.read_text()


def test_degenerate_datasets(fault_stack: Stack, tmp_path: Path) -> None:
    tiny = _upload_folders(fault_stack, tmp_path / "tiny.zip", {"train/ants": 1, "train/bees": 2, "val/ants": 1, "val/bees": 1})
    job = create_job(fault_stack, tiny["id"], hyperparameters=dict(QUICK_HYPERPARAMETERS, batch_size=64))
    assert job["hyperparameters"]["batch_size"] == 3
    finished = fault_stack.wait_for_job(job["id"], timeout=WAIT_SECONDS)
    assert finished["status"] == "succeeded", f"{finished}\n{fault_stack.logs()}"
    assert finished["progress"]["step"] == finished["progress"]["total_steps"]
    assert finished["progress"]["step"] > 0
    warnings = [event["message"] for event in events(fault_stack, job["id"]) if event["level"] == "warning"]
    assert any("batch_size 64" in message for message in warnings), warnings

    odd = _upload_folders(fault_stack, tmp_path / "odd.zip", {"train/ants": 33, "train/bees": 32, "val/ants": 2, "val/bees": 2})
    job = create_job(fault_stack, odd["id"], hyperparameters=dict(QUICK_HYPERPARAMETERS, batch_size=64))
    finished = fault_stack.wait_for_job(job["id"], timeout=WAIT_SECONDS)
    assert finished["status"] == "succeeded", f"{finished}\n{fault_stack.logs()}"
    assert finished["progress"]["total_steps"] == 2
    assert finished["progress"]["step"] == 2


def test_single_class_rejected_before_job(fault_stack: Stack, tmp_path: Path) -> None:
    """A one-class dataset is rejected at upload, so no job can be requested on it."""
    response = _post_folders(fault_stack, tmp_path / "one.zip", {"train/ants": 4, "val/ants": 2})

    assert response.status_code == 422
    problems = response.json()["error"]["details"]
    assert [problem["code"] for problem in problems] == ["too_few_classes"]


def _post_folders(stack: Stack, archive: Path, counts: dict[str, int]) -> httpx.Response:
    """Upload a zip with `count` photos in each `split/label` folder."""
    with zipfile.ZipFile(archive, "w") as handle:
        for folder, count in counts.items():
            split, label = folder.split("/")
            for path in photos(split, label, count):
                handle.write(path, f"{folder}/{path.name}")
    with open(archive, "rb") as upload:
        return stack.client.post("/v1/datasets", files={"file": (archive.name, upload, "application/zip")}, data={"name": archive.stem})


def _upload_folders(stack: Stack, archive: Path, counts: dict[str, int]) -> dict:
    response = _post_folders(stack, archive, counts)
    assert response.status_code == 201, response.text
    assert {entry["name"] for entry in response.json()["classes"]} == set(CLASSES)
    return response.json()
