"""Tenants over real HTTP: another tenant's ids are 404 on every endpoint, and bad keys are 401."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ADMIN_KEY, new_tenant_name
from tests.stack import Stack
from tests.tenant_helpers import create_key, flyp_command, insert_key, key_id_of, tenant_client, upload

JOB_BODY = {"model": {"architecture": "flyp-tiny"}, "hyperparameters": {"epochs": 1, "batch_size": 2, "templates": "simple"}}
IMAGE = ("files", ("a.jpg", b"not an image", "image/jpeg"))


@dataclass
class Tenant:
    name: str
    key: str
    client: httpx.Client
    ids: dict[str, str]


@pytest.fixture(scope="module")
def owner(auth_stack: Stack, tiny_zip: Path) -> Tenant:
    """A tenant with one dataset, one queued job and its pending model."""
    name = new_tenant_name()
    key = create_key(auth_stack, name)
    client = tenant_client(auth_stack, key)
    dataset = upload(client, tiny_zip)
    assert dataset.status_code == 201, dataset.text
    job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], **JOB_BODY})
    assert job.status_code == 201, job.text
    model_id = job.json()["model_id"] or client.get("/v1/models").json()["data"][0]["id"]
    return Tenant(name, key, client, {"dataset_id": dataset.json()["id"], "job_id": job.json()["id"], "model_id": model_id})


@pytest.fixture(scope="module")
def intruder(auth_stack: Stack) -> Tenant:
    name = new_tenant_name()
    key = insert_key(auth_stack, name)
    return Tenant(name, key, tenant_client(auth_stack, key), {})


@pytest.fixture(scope="module")
def revoked_key(auth_stack: Stack) -> str:
    name = new_tenant_name()
    key = create_key(auth_stack, name)
    result = flyp_command(["keys", "revoke", key_id_of(auth_stack, name)], auth_stack.environment)
    assert result.returncode == 0, result.stderr
    return key


def operations(stack: Stack) -> list[tuple[str, str, dict]]:
    """Return (method, path, operation) for every /v1 operation of the running API's schema."""
    schema = httpx.get(f"{stack.base_url}/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def request_body(path: str, operation: dict) -> dict:
    """Return httpx keyword arguments with a valid body for an operation on an existing id."""
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return {}
    if "multipart/form-data" in content and path.endswith("/classify"):
        return {"files": [IMAGE]}
    raise AssertionError(f"no request body known for {path}; add one to request_body so the 404 check reaches the handler")


def id_operations(stack: Stack) -> list[tuple[str, str, dict]]:
    found = [(method, path, operation) for method, path, operation in operations(stack) if "{" in path]
    assert found, "the schema has no /v1 path with an id"
    return found


def fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no id known for a parameter of {path}"
    return path


def test_other_tenant_ids_404(auth_stack: Stack, owner: Tenant, intruder: Tenant) -> None:
    checked = set()
    for method, path, operation in id_operations(auth_stack):
        response = intruder.client.request(method, fill(path, owner.ids), **request_body(path, operation))
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"].endswith("_not_found"), f"{method} {path}: {response.text}"
        checked.add(path)
    assert {"/v1/datasets/{dataset_id}", "/v1/jobs/{job_id}/cancel", "/v1/models/{model_id}/classify"} <= checked


def test_other_tenant_dataset_job_404(owner: Tenant, intruder: Tenant) -> None:
    response = intruder.client.post("/v1/jobs", json={"dataset_id": owner.ids["dataset_id"], **JOB_BODY})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "dataset_not_found"


@pytest.mark.parametrize("resource", ["datasets", "jobs", "models"])
def test_lists_hide_other_tenant(owner: Tenant, intruder: Tenant, resource: str) -> None:
    # Base models are offered to every tenant alike, so only the tenants' own models count.
    owner_ids = {item["id"] for item in owner.client.get(f"/v1/{resource}").json()["data"] if item.get("kind") != "base"}
    intruder_ids = {item["id"] for item in intruder.client.get(f"/v1/{resource}").json()["data"] if item.get("kind") != "base"}
    assert owner_ids, f"the owner lists no {resource}"
    assert not owner_ids & intruder_ids


def test_other_tenant_cursor_rejected(owner: Tenant, intruder: Tenant) -> None:
    response = intruder.client.get("/v1/jobs", params={"after": owner.ids["job_id"]})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "after"


def test_revoked_key_401_everywhere(auth_stack: Stack, revoked_key: str) -> None:
    with tenant_client(auth_stack, revoked_key) as client:
        for method, path, _operation in operations(auth_stack):
            response = client.request(method, fill(path, {"dataset_id": "ds_x", "job_id": "job_x", "model_id": "model_x"}))
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.json()["error"]["code"] == "api_key_revoked", f"{method} {path}"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_authorization"),
        ({"Authorization": "Bearer not-a-key"}, "invalid_api_key"),
        ({"Authorization": "Bearer flyp_0123456789ab_wrong"}, "invalid_api_key"),
    ],
)
def test_bad_credentials_401(auth_stack: Stack, headers: dict[str, str], code: str) -> None:
    response = httpx.get(f"{auth_stack.base_url}/v1/datasets", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_secret_known_prefix_401(auth_stack: Stack, owner: Tenant) -> None:
    forged = owner.key[: owner.key.rindex("_") + 1] + "x" * 43
    with tenant_client(auth_stack, forged) as client:
        response = client.get("/v1/datasets")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_unauthenticated_bad_json_401(auth_stack: Stack) -> None:
    response = httpx.post(f"{auth_stack.base_url}/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_health_and_schema_open(auth_stack: Stack) -> None:
    for path in ("/healthz", "/openapi.json"):
        assert httpx.get(f"{auth_stack.base_url}{path}").status_code == 200, path


def test_admin_acts_as_tenant(auth_stack: Stack, owner: Tenant) -> None:
    with tenant_client(auth_stack, ADMIN_KEY, **{"Flyp-Tenant": owner.name}) as admin:
        response = admin.get(f"/v1/datasets/{owner.ids['dataset_id']}")
    assert response.status_code == 200
    assert response.json()["id"] == owner.ids["dataset_id"]


def test_admin_without_tenant_400(auth_stack: Stack) -> None:
    with tenant_client(auth_stack, ADMIN_KEY) as admin:
        response = admin.get("/v1/datasets")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "tenant_required"


def test_admin_unknown_tenant_404(auth_stack: Stack) -> None:
    with tenant_client(auth_stack, ADMIN_KEY, **{"Flyp-Tenant": "no-such-tenant"}) as admin:
        response = admin.get("/v1/datasets")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_keys_list_hides_secrets(auth_stack: Stack, owner: Tenant) -> None:
    result = flyp_command(["keys", "list"], auth_stack.environment)
    assert result.returncode == 0, result.stderr
    assert owner.name in result.stdout
    assert owner.key not in result.stdout
    assert hashlib.sha256(owner.key.encode()).hexdigest() not in result.stdout


def test_keys_revoke_unknown_fails(auth_stack: Stack) -> None:
    result = flyp_command(["keys", "revoke", "key_unknown"], auth_stack.environment)
    assert result.returncode == 1
    assert "key_unknown" in result.stderr


def test_keys_create_invalid_tenant(auth_stack: Stack) -> None:
    result = flyp_command(["keys", "create", "--tenant", "bad name!"], auth_stack.environment)
    assert result.returncode == 2
    assert "invalid" in result.stderr


def test_api_log_has_no_keys(auth_stack: Stack, owner: Tenant) -> None:
    log = auth_stack.logs()
    assert owner.key not in log
    assert hashlib.sha256(owner.key.encode()).hexdigest() not in log


def test_owner_reaches_same_ids(auth_stack: Stack, owner: Tenant, intruder: Tenant) -> None:
    # Runs after the intruder's attempts and the other tests on the owner's ids, last in the file
    # because it cancels the owner's job and deletes its model: the job must still be queued.
    assert owner.client.get(f"/v1/jobs/{owner.ids['job_id']}").json()["status"] == "queued"
    # DELETE goes last: deleting the model (failed once its job is cancelled) ends the other checks.
    mutating_last = sorted(id_operations(auth_stack), key=lambda item: {"GET": 0, "DELETE": 2}.get(item[0], 1))
    for method, path, operation in mutating_last:
        response = owner.client.request(method, fill(path, owner.ids), **request_body(path, operation))
        assert response.status_code not in (401, 404), f"{method} {path}: {response.status_code} {response.text}"
