"""The jobs API over real HTTP: idempotent creation, cancel, queue position and the event list and stream."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.flows import upload_dataset
from tests.stack import Stack

# Jobs here are cancelled at once, so the shared worker spends little time on them.
BODY_HYPERPARAMETERS = {"epochs": 1, "batch_size": 16, "templates": "simple"}


@pytest.fixture(scope="module")
def dataset(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return upload_dataset(stack, tmp_path_factory.mktemp("jobs-api"))


def _body(dataset_id: str, seed: int = 0) -> dict:
    return {"dataset_id": dataset_id, "model": {"architecture": "flyp-tiny"}, "hyperparameters": dict(BODY_HYPERPARAMETERS, seed=seed)}


def _post(client: httpx.Client, body: dict, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/v1/jobs", json=body, headers=headers)


def _cancel_quietly(stack: Stack, job_id: str) -> None:
    stack.client.post(f"/v1/jobs/{job_id}/cancel")


def _jobs_with_seed(stack: Stack, dataset_id: str, seed: int) -> list[dict]:
    jobs = stack.client.get("/v1/jobs", params={"limit": 100}).json()["data"]
    return [job for job in jobs if job["dataset_id"] == dataset_id and job["hyperparameters"]["seed"] == seed]


def test_idempotent_retry_returns_first_job(stack: Stack, dataset: dict) -> None:
    key = uuid.uuid4().hex
    first = _post(stack.client, _body(dataset["id"], seed=11), key)
    retry = _post(stack.client, _body(dataset["id"], seed=11), key)
    _cancel_quietly(stack, first.json()["id"])

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_jobs_with_seed(stack, dataset["id"], 11)) == 1


def test_idempotency_key_reused_with_other_body(stack: Stack, dataset: dict) -> None:
    key = uuid.uuid4().hex
    first = _post(stack.client, _body(dataset["id"], seed=12), key)
    _cancel_quietly(stack, first.json()["id"])
    other = _post(stack.client, _body(dataset["id"], seed=13), key)

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["param"] == "Idempotency-Key"
    assert _jobs_with_seed(stack, dataset["id"], 13) == []


def test_concurrent_twins_create_one_job(stack: Stack, dataset: dict) -> None:
    key = uuid.uuid4().hex
    with httpx.Client(base_url=stack.base_url, timeout=60) as client, ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: _post(client, _body(dataset["id"], seed=14), key), range(6)))
    ids = {response.json()["id"] for response in responses}
    _cancel_quietly(stack, next(iter(ids)))

    assert [response.status_code for response in responses] == [201] * 6
    assert len(ids) == 1
    assert len(_jobs_with_seed(stack, dataset["id"], 14)) == 1


def test_invalid_idempotency_key_422(stack: Stack, dataset: dict) -> None:
    response = _post(stack.client, _body(dataset["id"]), "x" * 256)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


def test_queued_job_has_queue_position(stack: Stack, dataset: dict) -> None:
    created = _post(stack.client, _body(dataset["id"], seed=15), None).json()
    _cancel_quietly(stack, created["id"])

    assert created["status"] == "queued"
    assert created["queue_position"] >= 1
    assert stack.client.get(f"/v1/jobs/{created['id']}").json()["queue_position"] is None


def test_cancel_ended_job_409(stack: Stack, dataset: dict) -> None:
    created = _post(stack.client, _body(dataset["id"], seed=16), None).json()
    first = stack.client.post(f"/v1/jobs/{created['id']}/cancel")
    second = stack.client.post(f"/v1/jobs/{created['id']}/cancel")

    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "job_not_cancellable"
    assert "cancelled" in second.json()["error"]["message"]


def test_events_pages_and_stream(stack: Stack, dataset: dict) -> None:
    created = _post(stack.client, _body(dataset["id"], seed=17), None).json()
    stack.client.post(f"/v1/jobs/{created['id']}/cancel")
    url = f"/v1/jobs/{created['id']}/events"
    everything = stack.client.get(url).json()["data"]
    first_page = stack.client.get(url, params={"limit": 1}).json()
    rest = stack.client.get(url, params={"after": first_page["data"][0]["id"]}).json()

    assert first_page["has_more"] is True
    assert [event["id"] for event in first_page["data"] + rest["data"]] == [event["id"] for event in everything]
    streamed, end = _read_stream(stack, url, {})
    assert [event["id"] for event in streamed] == [event["id"] for event in everything]
    assert end == {"job_id": created["id"], "status": "cancelled"}
    resumed, _ = _read_stream(stack, url, {"Last-Event-ID": str(everything[0]["id"])})
    assert [event["id"] for event in resumed] == [event["id"] for event in everything[1:]]


def _read_stream(stack: Stack, url: str, headers: dict[str, str]) -> tuple[list[dict], dict | None]:
    events, end, kind = [], None, None
    with stack.client.stream("GET", url, params={"stream": "true"}, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                payload = json.loads(line.removeprefix("data: "))
                if kind == "end":
                    end = payload
                else:
                    events.append(payload)
    return events, end
