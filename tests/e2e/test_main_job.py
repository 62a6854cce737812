"""The main job end to end on both deployments: PostgreSQL + Redis + worker, and `flyp serve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.flows import check_main_job, create_job, upload_dataset
from tests.stack import Stack, embedded_stack

pytestmark = pytest.mark.e2e


def test_main_job_postgres_redis(stack: Stack, tmp_path: Path) -> None:
    check_main_job(stack, tmp_path)


def test_main_job_embedded(tmp_path: Path) -> None:
    with embedded_stack(tmp_path / "var") as running:
        check_main_job(running, tmp_path)


def test_job_unknown_dataset_404(stack: Stack) -> None:
    response = stack.client.post("/v1/jobs", json={"dataset_id": "ds_missing", "model": {"architecture": "flyp-tiny"}})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "dataset_not_found"
    assert error["param"] == "dataset_id"
    assert "ds_missing" in error["message"]


def test_failed_job_then_next_succeeds(stack: Stack, tmp_path: Path) -> None:
    dataset = upload_dataset(stack, tmp_path)
    missing = tmp_path / "no-such-checkpoint.pt"
    broken = create_job(stack, dataset["id"], model={"architecture": "flyp-tiny", "checkpoint": str(missing)})
    failed = stack.wait_for_job(broken["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "checkpoint_not_found"
    assert str(missing) in failed["error"]["message"]
    assert failed["model_id"] is None

    next_job = create_job(stack, dataset["id"], hyperparameters={"epochs": 1, "batch_size": 16, "templates": "simple"})
    assert stack.wait_for_job(next_job["id"])["status"] == "succeeded"


def test_unexpected_error_fails_job(stack: Stack, tmp_path: Path) -> None:
    dataset = upload_dataset(stack, tmp_path)
    job = create_job(stack, dataset["id"])
    # A file where the model directory will go makes the final save raise an unexpected error.
    models = stack.client.get("/v1/models", params={"limit": 100}).json()["data"]
    model_id = next(model["id"] for model in models if model["job_id"] == job["id"])
    (Path(stack.environment["FLYP_DATA_DIR"]) / "models" / model_id).write_text("in the way")

    failed = stack.wait_for_job(job["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "internal_error"
    assert job["id"] in failed["error"]["message"]
    assert "Traceback" not in failed["error"]["message"]
    assert stack.client.get(f"/v1/models/{model_id}").json()["status"] == "failed"


def test_classify_unfinished_model_409(stack: Stack, tmp_path: Path) -> None:
    dataset = upload_dataset(stack, tmp_path)
    job = create_job(stack, dataset["id"], hyperparameters={"epochs": 200, "batch_size": 16, "templates": "simple"})
    models = stack.client.get("/v1/models", params={"limit": 100}).json()["data"]
    model_id = next(model["id"] for model in models if model["job_id"] == job["id"])

    response = stack.client.post(f"/v1/models/{model_id}/classify", files=[("files", ("a.jpg", b"not read", "image/jpeg"))])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_not_ready"

    cancelled = stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
