"""The shared error shape over real HTTP: validation, unknown ids, unknown routes."""

from __future__ import annotations

from tests.stack import Stack


def test_validation_lists_every_field(stack: Stack) -> None:
    body = {"dataset_id": "ds_x", "model": {"architecture": ""}, "hyperparameters": {"epochs": 0, "learning_rate": -1, "bogus": 1}}
    response = stack.client.post("/v1/jobs", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    params = {item["param"] for item in error["errors"]}
    assert params == {"model.architecture", "hyperparameters.epochs", "hyperparameters.learning_rate", "hyperparameters.bogus"}
    assert "hyperparameters.epochs" in error["message"]


def test_pretrained_and_checkpoint_conflict(stack: Stack) -> None:
    body = {"dataset_id": "ds_x", "model": {"architecture": "ViT-B-32", "pretrained": "openai", "checkpoint": "/x.pt"}}
    response = stack.client.post("/v1/jobs", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["param"] == "model"


def test_unknown_ids_404(stack: Stack) -> None:
    for path, code in (("/v1/jobs/job_nope", "job_not_found"), ("/v1/datasets/ds_nope", "dataset_not_found"), ("/v1/models/model_nope", "model_not_found")):
        response = stack.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == code


def test_unknown_route_404_shape(stack: Stack) -> None:
    response = stack.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_405_shape(stack: Stack) -> None:
    response = stack.client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_upload_without_file_422(stack: Stack) -> None:
    response = stack.client.post("/v1/datasets", files={"name": (None, "nothing")})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "missing_file"
    assert error["param"] == "file"


def test_upload_not_multipart_415(stack: Stack) -> None:
    response = stack.client.post("/v1/datasets", data={"name": "nothing"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_invalid_cursor_422(stack: Stack) -> None:
    response = stack.client.get("/v1/jobs", params={"after": "job_unknown"})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "after"


def test_readyz_reports_checks(stack: Stack) -> None:
    response = stack.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}
