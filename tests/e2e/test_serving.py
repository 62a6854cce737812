"""Classify, download, delete and metrics against a real API and worker on PostgreSQL and Redis."""

from __future__ import annotations

import base64
import io
import json
import re
import statistics
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import open_clip
import pytest
import torch
from safetensors.torch import load_file

from api.metrics import JOB_COUNT_SECONDS
from core.images import decode_image
from tests.data import CLASSES, photos
from tests.e2e.flows import classify, create_job, upload_dataset
from tests.stack import Stack

pytestmark = pytest.mark.e2e

MAX_IMAGE_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def model_id(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    dataset = upload_dataset(stack, tmp_path_factory.mktemp("serving"))
    job = stack.wait_for_job(create_job(stack, dataset["id"])["id"])
    assert job["status"] == "succeeded", f"{job}\n{stack.logs()}"
    return job["model_id"]


def sample_paths(count: int = 4) -> list[Path]:
    return [path for label in CLASSES for path in photos("val", label, count // len(CLASSES))]


def metric_value(stack: Stack, name: str) -> float:
    text = stack.client.get("/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} missing from /metrics:\n{text}"
    return float(match.group(1))


def scores_by_label(item: dict) -> dict[str, float]:
    return {prediction["label"]: prediction["score"] for prediction in item["predictions"]}


def test_sequential_calls_load_model_once(stack: Stack, model_id: str) -> None:
    loads_before = metric_value(stack, "flyp_model_cache_loads_total")
    hits_before = metric_value(stack, "flyp_model_cache_hits_total")
    path = sample_paths(2)[0]

    for _ in range(50):
        classify(stack, model_id, [path])

    assert metric_value(stack, "flyp_model_cache_loads_total") - loads_before <= 1
    assert metric_value(stack, "flyp_model_cache_hits_total") - hits_before >= 49


def test_concurrent_calls_match_sequential(stack: Stack, model_id: str) -> None:
    paths = sample_paths(16)
    sequential = [classify(stack, model_id, [path])["data"][0] for path in paths]
    health_seconds: list[float] = []
    done = threading.Event()

    def probe_health() -> None:
        with httpx.Client(base_url=stack.base_url, timeout=5) as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                health_seconds.append(time.perf_counter() - started)
                time.sleep(0.01)

    prober = threading.Thread(target=probe_health)
    prober.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            concurrent = list(pool.map(lambda path: classify(stack, model_id, [path])["data"][0], paths))
    finally:
        done.set()
        prober.join()

    for alone, together in zip(sequential, concurrent):
        assert together["predictions"][0]["label"] == alone["predictions"][0]["label"]
        for label, score in scores_by_label(alone).items():
            assert scores_by_label(together)[label] == pytest.approx(score, abs=1e-5), (alone, together)
    assert health_seconds, "no /healthz probe finished while classify ran"
    assert max(health_seconds) < 0.1, f"/healthz took up to {max(health_seconds):.3f} s (median {statistics.median(health_seconds):.3f} s)"


def test_same_image_five_times_identical(stack: Stack, model_id: str) -> None:
    path = sample_paths(2)[1]
    results = [classify(stack, model_id, [path])["data"][0]["predictions"] for _ in range(5)]
    assert all(result == results[0] for result in results)


def test_download_loads_in_plain_open_clip(stack: Stack, model_id: str, tmp_path: Path) -> None:
    response = stack.client.get(f"/v1/models/{model_id}/download")
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path)
    paths = sample_paths(4)
    served = classify(stack, model_id, paths, top_k=len(CLASSES))["data"]

    # Plain open_clip: the local-dir schema with its own evaluation transform (the model's mean and std).
    model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{tmp_path}")
    model.eval()
    head = load_file(str(tmp_path / "head.safetensors"))
    classes = [entry["display_name"] for entry in json.loads((tmp_path / "metadata.json").read_text())["classes"]]
    pixels = torch.stack([preprocess(decode_image(path.read_bytes(), max_pixels=MAX_IMAGE_PIXELS)) for path in paths])
    with torch.inference_mode():
        features = model.encode_image(pixels, normalize=True)
        expected = (features @ head["weight"].T + head["bias"]).softmax(dim=1)

    for row, item in zip(expected, served):
        by_label = scores_by_label(item)
        for index, label in enumerate(classes):
            assert by_label[label] == pytest.approx(float(row[index]), abs=1e-4), (label, item)


def test_base64_json_matches_multipart(stack: Stack, model_id: str) -> None:
    path = sample_paths(2)[0]
    body = {"images": [{"data": base64.b64encode(path.read_bytes()).decode(), "filename": path.name}], "top_k": 2}
    response = stack.client.post(f"/v1/models/{model_id}/classify", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0] == classify(stack, model_id, [path])["data"][0]


def test_top_k_limits_predictions(stack: Stack, model_id: str) -> None:
    result = classify(stack, model_id, sample_paths(2), top_k=1)
    assert [len(item["predictions"]) for item in result["data"]] == [1, 1]


def test_labels_extend_with_zero_shot(stack: Stack, model_id: str) -> None:
    path = sample_paths(2)[0]
    body = {"images": [base64.b64encode(path.read_bytes()).decode()], "labels": ["bees", "ants", "wasps"], "top_k": 3}
    response = stack.client.post(f"/v1/models/{model_id}/classify", json=body)
    assert response.status_code == 200, response.text
    predictions = response.json()["data"][0]["predictions"]
    zero_shot = {prediction["label"]: prediction["zero_shot"] for prediction in predictions}
    assert zero_shot == {"ants": False, "bees": False, "wasps": True}
    assert sum(prediction["score"] for prediction in predictions) == pytest.approx(1.0, abs=1e-5)


def test_labels_restrict_to_one_class(stack: Stack, model_id: str) -> None:
    files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in sample_paths(2)]
    response = stack.client.post(f"/v1/models/{model_id}/classify", files=files, data={"labels": "bees"})
    assert response.status_code == 200, response.text
    for item in response.json()["data"]:
        assert item["predictions"] == [{"label": "bees", "score": pytest.approx(1.0), "zero_shot": False}]


def test_base_model_zero_shot(stack: Stack) -> None:
    models = stack.client.get("/v1/models", params={"limit": 100}).json()["data"]
    assert "base:flyp-tiny:random" in [model["id"] for model in models if model["kind"] == "base"]
    path = sample_paths(2)[0]
    files = [("files", (path.name, path.read_bytes(), "image/jpeg"))]

    response = stack.client.post("/v1/models/base:flyp-tiny:random/classify", files=files, data={"labels": ["ants", "bees"], "templates": "simple"})
    assert response.status_code == 200, response.text
    predictions = response.json()["data"][0]["predictions"]
    assert sorted(prediction["label"] for prediction in predictions) == ["ants", "bees"]
    assert all(prediction["zero_shot"] for prediction in predictions)


def test_base_model_without_labels_422(stack: Stack) -> None:
    path = sample_paths(2)[0]
    response = stack.client.post("/v1/models/base:flyp-tiny:random/classify", files=[("files", (path.name, path.read_bytes(), "image/jpeg"))])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "labels_required"


def test_undecodable_image_422_names_it(stack: Stack, model_id: str) -> None:
    good = sample_paths(2)[0]
    files = [("files", (good.name, good.read_bytes(), "image/jpeg")), ("files", ("broken.jpg", b"not an image", "image/jpeg"))]
    response = stack.client.post(f"/v1/models/{model_id}/classify", files=files)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "files[1]"
    assert "broken.jpg" in error["message"]


def test_invalid_base64_422_names_it(stack: Stack, model_id: str) -> None:
    response = stack.client.post(f"/v1/models/{model_id}/classify", json={"images": ["aGVsbG8=", "***"]})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "images[1]"


def test_unknown_model_404(stack: Stack) -> None:
    path = sample_paths(2)[0]
    for model_id in ("model_missing", "base:flyp-tiny:no-such-tag"):
        response = stack.client.post(f"/v1/models/{model_id}/classify", files=[("files", (path.name, path.read_bytes(), "image/jpeg"))])
        assert response.status_code == 404, model_id
        assert response.json()["error"]["code"] == "model_not_found"
    assert stack.client.get("/v1/models/model_missing/download").status_code == 404


def test_unfinished_model_409(stack: Stack, tmp_path: Path) -> None:
    dataset = upload_dataset(stack, tmp_path)
    job = create_job(stack, dataset["id"], hyperparameters={"epochs": 200, "batch_size": 16, "templates": "simple"})
    model_id = job["model_id"] or next(
        model["id"] for model in stack.client.get("/v1/models", params={"limit": 100}).json()["data"] if model["job_id"] == job["id"]
    )
    try:
        classified = stack.client.post(f"/v1/models/{model_id}/classify", json={"images": ["aGVsbG8="]})
        downloaded = stack.client.get(f"/v1/models/{model_id}/download")
        deleted = stack.client.delete(f"/v1/models/{model_id}")
    finally:
        stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert classified.status_code == 409
    assert classified.json()["error"]["code"] == "model_not_ready"
    assert downloaded.status_code == 409
    assert deleted.status_code == 409


def test_metrics_count_requests_by_endpoint(stack: Stack, model_id: str) -> None:
    classify(stack, model_id, sample_paths(2)[:1])
    text = stack.client.get("/metrics").text
    assert 'flyp_http_requests_total{endpoint="/v1/models/{model_id}/classify",method="POST",status="200"}' in text
    assert "flyp_http_request_duration_seconds_bucket" in text
    assert model_id not in text
    # Job counts are reused for JOB_COUNT_SECONDS, so an earlier scrape may predate the model's job.
    deadline = time.monotonic() + JOB_COUNT_SECONDS + 5
    while not re.search(r'^flyp_jobs\{state="succeeded"\} [1-9]', text, flags=re.MULTILINE):
        assert time.monotonic() < deadline, f"no succeeded job in /metrics:\n{text}"
        time.sleep(0.5)
        text = stack.client.get("/metrics").text


def test_delete_waits_for_in_flight_then_removes(stack: Stack, tmp_path: Path) -> None:
    dataset = upload_dataset(stack, tmp_path)
    job = stack.wait_for_job(create_job(stack, dataset["id"], hyperparameters={"epochs": 1, "batch_size": 16, "templates": "simple"})["id"])
    model_id = job["model_id"]
    model_dir = Path(stack.environment["FLYP_DATA_DIR"]) / "models" / model_id
    assert model_dir.is_dir()
    paths = sample_paths(8)
    files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in paths]

    def classify_all() -> int:
        with httpx.Client(base_url=stack.base_url, timeout=120) as client:
            return client.post(f"/v1/models/{model_id}/classify", files=files).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        pending = [pool.submit(classify_all) for _ in range(8)]
        time.sleep(0.2)
        deleted = stack.client.delete(f"/v1/models/{model_id}")
        statuses = [future.result() for future in pending]

    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": model_id, "object": "model", "deleted": True}
    assert set(statuses) <= {200, 404}, statuses
    assert not model_dir.exists()
    assert stack.client.get(f"/v1/models/{model_id}").status_code == 404
    listed = [model["id"] for model in stack.client.get("/v1/models", params={"limit": 100}).json()["data"]]
    assert model_id not in listed
