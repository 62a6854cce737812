"""Per-tenant limits over real HTTP: stored bytes, active jobs and the classify rate."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from client import ApiError, FlypClient
from tests.api.conftest import CLASSIFY_PER_MINUTE, MAX_ACTIVE_JOBS, new_tenant_name
from tests.stack import Stack
from tests.tenant_helpers import flyp_command, insert_key, tenant_client, upload

JOB_BODY = {"model": {"architecture": "flyp-tiny"}, "hyperparameters": {"epochs": 1, "batch_size": 2, "templates": "simple"}}


def new_client(stack: Stack) -> httpx.Client:
    return tenant_client(stack, insert_key(stack, new_tenant_name()))


def uploaded_dataset(client: httpx.Client, archive: Path) -> str:
    response = upload(client, archive)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_stored_bytes_limit_413(auth_stack: Stack, tiny_zip: Path) -> None:
    with new_client(auth_stack) as client:
        uploaded_dataset(client, tiny_zip)
        response = upload(client, tiny_zip)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "storage_limit_exceeded"
    assert error["details"]["used_bytes"] == tiny_zip.stat().st_size


def test_stored_bytes_per_tenant(auth_stack: Stack, tiny_zip: Path) -> None:
    with new_client(auth_stack) as first, new_client(auth_stack) as second:
        uploaded_dataset(first, tiny_zip)
        response = upload(second, tiny_zip)
    assert response.status_code == 201, response.text


def test_active_jobs_limit_429(auth_stack: Stack, tiny_zip: Path) -> None:
    with new_client(auth_stack) as client:
        dataset_id = uploaded_dataset(client, tiny_zip)
        jobs = [client.post("/v1/jobs", json={"dataset_id": dataset_id, **JOB_BODY}) for _ in range(MAX_ACTIVE_JOBS)]
        assert [job.status_code for job in jobs] == [201] * MAX_ACTIVE_JOBS
        refused = client.post("/v1/jobs", json={"dataset_id": dataset_id, **JOB_BODY})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "active_jobs_limit_exceeded"

        assert client.post(f"/v1/jobs/{jobs[0].json()['id']}/cancel").status_code == 200
        after_cancel = client.post("/v1/jobs", json={"dataset_id": dataset_id, **JOB_BODY})
        assert after_cancel.status_code == 201, after_cancel.text


def test_classify_rate_limit_429(auth_stack: Stack, tiny_zip: Path) -> None:
    key = insert_key(auth_stack, new_tenant_name())
    with FlypClient(auth_stack.base_url, key) as client:
        dataset = client.upload_dataset(tiny_zip)
        job = client.create_job(dataset["id"], architecture="flyp-tiny", hyperparameters=JOB_BODY["hyperparameters"])
        model_id = job["model_id"] or client.list_models()["data"][0]["id"]
        # The model is still pending, so every request within the rate gets 409 from the handler.
        codes = []
        for _ in range(CLASSIFY_PER_MINUTE):
            with pytest.raises(ApiError) as within:
                client.classify(model_id, [tiny_zip])
            codes.append(within.value.status_code)
        assert codes == [409] * CLASSIFY_PER_MINUTE
        with pytest.raises(ApiError) as limited:
            client.classify(model_id, [tiny_zip])
    assert limited.value.status_code == 429
    assert limited.value.code == "rate_limited"
    assert limited.value.retry_after is not None
    assert 1 <= limited.value.retry_after <= 60


def test_classify_rate_per_tenant(auth_stack: Stack, tiny_zip: Path) -> None:
    with new_client(auth_stack) as client:
        responses = [
            client.post("/v1/models/model_unknown/classify", files=[("files", ("a.jpg", b"x", "image/jpeg"))])
            for _ in range(CLASSIFY_PER_MINUTE)
        ]
    # Other tests spent their own tenants' rates; this tenant still has its whole minute.
    assert [response.status_code for response in responses] == [404] * CLASSIFY_PER_MINUTE


def test_tenant_own_limits_replace_defaults(auth_stack: Stack, tiny_zip: Path) -> None:
    tenant = new_tenant_name()
    key = insert_key(auth_stack, tenant)
    raised = flyp_command(["tenants", "limits", tenant, "--max-stored-bytes", "0", "--max-active-jobs", "1"], auth_stack.environment)
    assert raised.returncode == 0, raised.stderr
    assert "max_stored_bytes=0" in raised.stdout
    assert "classify_per_minute=default" in raised.stdout

    with tenant_client(auth_stack, key) as client:
        # 0 turns the stored-bytes limit off for this tenant, so a second upload passes.
        dataset_id = uploaded_dataset(client, tiny_zip)
        assert upload(client, tiny_zip).status_code == 201
        assert client.post("/v1/jobs", json={"dataset_id": dataset_id, **JOB_BODY}).status_code == 201
        refused = client.post("/v1/jobs", json={"dataset_id": dataset_id, **JOB_BODY})
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == 1


def test_default_clears_tenant_limit(auth_stack: Stack, tiny_zip: Path) -> None:
    tenant = new_tenant_name()
    key = insert_key(auth_stack, tenant)
    assert flyp_command(["tenants", "limits", tenant, "--max-stored-bytes", "0"], auth_stack.environment).returncode == 0
    cleared = flyp_command(["tenants", "limits", tenant, "--max-stored-bytes", "default"], auth_stack.environment)
    assert cleared.returncode == 0, cleared.stderr

    with tenant_client(auth_stack, key) as client:
        uploaded_dataset(client, tiny_zip)
        response = upload(client, tiny_zip)
    assert response.status_code == 413


def test_limits_of_unknown_tenant_fail(auth_stack: Stack) -> None:
    result = flyp_command(["tenants", "limits", "no-such-tenant", "--max-active-jobs", "3"], auth_stack.environment)
    assert result.returncode == 1
    assert "No tenant named 'no-such-tenant'" in result.stderr


@pytest.mark.parametrize("value", ["-1", "many"])
def test_invalid_limit_value_is_usage_error(auth_stack: Stack, value: str) -> None:
    result = flyp_command(["tenants", "limits", "any", "--max-active-jobs", value], auth_stack.environment)
    assert result.returncode == 2
    assert "--max-active-jobs" in result.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [("--max-active-jobs", "2147483648"), ("--classify-per-minute", "2147483648"), ("--max-stored-bytes", "9223372036854775808")],
)
def test_limit_above_column_range_is_usage_error(auth_stack: Stack, option: str, value: str) -> None:
    tenant = new_tenant_name()
    insert_key(auth_stack, tenant)

    result = flyp_command(["tenants", "limits", tenant, option, value], auth_stack.environment)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert option in result.stderr


def test_tenants_list_shows_limits(auth_stack: Stack) -> None:
    tenant = new_tenant_name()
    insert_key(auth_stack, tenant)
    assert flyp_command(["tenants", "limits", tenant, "--classify-per-minute", "7"], auth_stack.environment).returncode == 0
    listed = flyp_command(["tenants", "list"], auth_stack.environment)
    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if f" {tenant} " in line)
    assert row[2:] == ["default", "default", "7"]
