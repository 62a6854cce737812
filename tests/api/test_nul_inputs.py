"""Inputs with NUL characters, which PostgreSQL cannot store, get a 4xx and never a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import new_tenant_name
from tests.stack import Stack
from tests.tenant_helpers import insert_key, tenant_client, upload


@pytest.fixture(scope="module")
def client(auth_stack: Stack) -> httpx.Client:
    return tenant_client(auth_stack, insert_key(auth_stack, new_tenant_name()))


@pytest.mark.parametrize("path", ["/v1/jobs/job_%00", "/v1/datasets/%00", "/v1/models/model_%00x", "/v1/jobs?after=%00"])
def test_nul_in_id_4xx(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500, response.text


def test_nul_in_job_body_422(client: httpx.Client, tiny_zip: Path) -> None:
    dataset = upload(client, tiny_zip)
    assert dataset.status_code == 201, dataset.text
    response = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "model": {"architecture": "flyp\x00tiny"}})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_value"


def test_nul_in_dataset_name_422(auth_stack: Stack, tiny_zip: Path) -> None:
    # A tenant of its own, so the stored-bytes limit cannot reject the upload first.
    with tenant_client(auth_stack, insert_key(auth_stack, new_tenant_name())) as fresh:
        with open(tiny_zip, "rb") as handle:
            response = fresh.post("/v1/datasets", files={"file": ("tiny.zip", handle, "application/zip")}, data={"name": "a\x00b"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_value"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models?after=model_%00"),
        ("GET", "/v1/models/model_%00/download"),
        ("DELETE", "/v1/models/model_%00"),
        ("GET", "/v1/jobs/job_%00/report.png"),
        ("GET", "/v1/jobs/job_%00/events"),
        ("POST", "/v1/jobs/job_%00/cancel"),
    ],
)
def test_nul_in_model_and_job_paths_4xx(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert 400 <= response.status_code < 500, response.text


def test_nul_in_classify_model_id_4xx(client: httpx.Client) -> None:
    response = client.post("/v1/models/model_%00/classify", json={"images": ["aGVsbG8="]})
    assert 400 <= response.status_code < 500, response.text


def test_nul_in_eval_dataset_id_4xx(auth_stack: Stack, tiny_zip: Path) -> None:
    # A tenant of its own, so the stored-bytes limit cannot reject the upload first.
    with tenant_client(auth_stack, insert_key(auth_stack, new_tenant_name())) as fresh:
        dataset = upload(fresh, tiny_zip)
        assert dataset.status_code == 201, dataset.text
        body = {"dataset_id": dataset.json()["id"], "model": {"architecture": "flyp-tiny"}, "eval_dataset_ids": ["ds_\x00"]}
        response = fresh.post("/v1/jobs", json=body)

    assert 400 <= response.status_code < 500, response.text
