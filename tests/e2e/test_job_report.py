"""GET /v1/jobs/{id}/report.png and extra evaluation datasets over real HTTP on `flyp serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client import FlypClient
from tests.data import build_zip
from tests.stack import Stack, embedded_stack
from tests.tenant_helpers import build_tiny_zip, flyp_command

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HYPERPARAMETERS = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "templates": "simple", "seed": 0}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with embedded_stack(tmp_path_factory.mktemp("report-service")) as running:
        yield running


@pytest.fixture(scope="module")
def succeeded_job(service: Stack, dataset_id: str) -> dict:
    return start_job(service, dataset_id, {"architecture": "flyp-tiny"})


@pytest.fixture(scope="module")
def dataset_id(service: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    archive = build_zip(tmp_path_factory.mktemp("report-data") / "photos.zip", train_per_class=6, val_per_class=4)
    with open(archive, "rb") as handle:
        response = service.client.post("/v1/datasets", files={"file": ("photos.zip", handle, "application/zip")}, data={"name": "photos"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def start_job(service: Stack, dataset_id: str, model: dict, **fields: object) -> dict:
    body = {"dataset_id": dataset_id, "model": model, "hyperparameters": HYPERPARAMETERS, **fields}
    response = service.client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return service.wait_for_job(response.json()["id"])


def test_report_png_of_succeeded_job(service: Stack, succeeded_job: dict) -> None:
    assert succeeded_job["status"] == "succeeded", f"{succeeded_job}\n{service.logs()}"

    response = service.client.get(f"/v1/jobs/{succeeded_job['id']}/report.png")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content[:8] == PNG_SIGNATURE


def test_client_and_cli_fetch_the_report(service: Stack, succeeded_job: dict, tmp_path: Path) -> None:
    with FlypClient(service.base_url) as client:
        report = client.get_job_report(succeeded_job["id"])
    output = tmp_path / "report.png"

    result = flyp_command(["jobs", "report", succeeded_job["id"], "--output", str(output), "--url", service.base_url], service.environment)

    assert report[:8] == PNG_SIGNATURE
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == report


def test_report_png_of_failed_job_409(service: Stack, dataset_id: str, tmp_path: Path) -> None:
    job = start_job(service, dataset_id, {"architecture": "flyp-tiny", "checkpoint": str(tmp_path / "missing.pt")})
    assert job["status"] == "failed"

    response = service.client.get(f"/v1/jobs/{job['id']}/report.png")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "report_not_ready"
    assert response.json()["error"]["param"] == "job_id"

    model = next(model for model in service.client.get("/v1/models", params={"limit": 100}).json()["data"] if model["job_id"] == job["id"])
    classified = service.client.post(f"/v1/models/{model['id']}/classify", json={"images": ["aGVsbG8="]})
    assert classified.status_code == 409
    assert classified.json()["error"]["code"] == "model_not_ready"
    assert "yet" not in classified.json()["error"]["message"]
    assert "failed" in classified.json()["error"]["message"]


def test_eval_datasets_reported_for_every_alpha(service: Stack, dataset_id: str) -> None:
    job = start_job(service, dataset_id, {"architecture": "flyp-tiny"}, eval_dataset_ids=[dataset_id])
    assert job["status"] == "succeeded", f"{job}\n{service.logs()}"
    assert job["eval_dataset_ids"] == [dataset_id]

    curve = job["metrics"]["wise_ft"]["curve"]

    assert len(curve) == 11
    for entry in curve:
        assert entry["extra"][dataset_id]["accuracy"] == entry["val"]["accuracy"], entry  # the same images as validation


def test_unknown_eval_dataset_404(service: Stack, dataset_id: str) -> None:
    body = {"dataset_id": dataset_id, "model": {"architecture": "flyp-tiny"}, "eval_dataset_ids": ["ds_missing"]}
    response = service.client.post("/v1/jobs", json=body)
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "eval_dataset_ids[0]"


def test_report_png_of_unknown_job_404(service: Stack) -> None:
    response = service.client.get("/v1/jobs/job_missing/report.png")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_eval_dataset_error_names_request_index(service: Stack, dataset_id: str) -> None:
    body = {"dataset_id": dataset_id, "model": {"architecture": "flyp-tiny"}, "eval_dataset_ids": [dataset_id, dataset_id, "ds_missing"]}

    response = service.client.post("/v1/jobs", json=body)

    assert response.status_code == 404, response.text
    assert response.json()["error"]["param"] == "eval_dataset_ids[2]"


def test_report_png_after_model_deleted_404(service: Stack, dataset_id: str) -> None:
    job = start_job(service, dataset_id, {"architecture": "flyp-tiny"})
    assert job["status"] == "succeeded", f"{job}\n{service.logs()}"
    assert service.client.delete(f"/v1/models/{job['model_id']}").status_code == 200

    response = service.client.get(f"/v1/jobs/{job['id']}/report.png")

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "report_not_found"
    assert job["model_id"] in response.json()["error"]["message"]


def test_eval_dataset_without_shared_classes_422(service: Stack, dataset_id: str, tmp_path: Path) -> None:
    archive = build_tiny_zip(tmp_path / "cats-dogs.zip")
    with open(archive, "rb") as handle:
        uploaded = service.client.post("/v1/datasets", files={"file": ("cats-dogs.zip", handle, "application/zip")}, data={"name": "cats-dogs"})
    assert uploaded.status_code == 201, uploaded.text
    other_id = uploaded.json()["id"]
    body = {"dataset_id": dataset_id, "model": {"architecture": "flyp-tiny"}, "eval_dataset_ids": [dataset_id, other_id]}

    response = service.client.post("/v1/jobs", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "eval_dataset_no_shared_classes"
    assert response.json()["error"]["param"] == "eval_dataset_ids[1]"
