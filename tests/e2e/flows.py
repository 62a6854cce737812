"""The user's main path through the API, shared by the tests of each deployment."""

from __future__ import annotations

from pathlib import Path

from tests.data import CLASSES, build_zip, photos
from tests.stack import Stack

# Small enough to train in seconds on two CPU cores, large enough to learn something.
TRAIN_PER_CLASS = 24
VAL_PER_CLASS = 12
HYPERPARAMETERS = {"epochs": 3, "batch_size": 16, "learning_rate": 1e-3, "warmup_steps": 2, "templates": "simple", "seed": 0}


def upload_dataset(stack: Stack, tmp_path: Path, *, train_per_class: int = TRAIN_PER_CLASS) -> dict:
    """Upload real photos; archives of equal content share one storage directory, so pass another
    `train_per_class` for a dataset whose files a test removes."""
    archive = build_zip(tmp_path / "hymenoptera.zip", train_per_class=train_per_class, val_per_class=VAL_PER_CLASS)
    with open(archive, "rb") as handle:
        response = stack.client.post("/v1/datasets", files={"file": ("hymenoptera.zip", handle, "application/zip")}, data={"name": "ants and bees"})
    assert response.status_code == 201, response.text
    return response.json()


def create_job(stack: Stack, dataset_id: str, **overrides: object) -> dict:
    body = {"dataset_id": dataset_id, "model": {"architecture": "flyp-tiny"}, "hyperparameters": dict(HYPERPARAMETERS)}
    body.update(overrides)
    response = stack.client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def classify(stack: Stack, model_id: str, paths: list[Path], top_k: int = 2) -> dict:
    files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in paths]
    response = stack.client.post(f"/v1/models/{model_id}/classify", files=files, data={"top_k": str(top_k)})
    assert response.status_code == 200, response.text
    return response.json()


def val_photos() -> list[tuple[Path, str]]:
    return [(path, label) for label in CLASSES for path in photos("val", label, VAL_PER_CLASS)]


def check_main_job(stack: Stack, tmp_path: Path) -> None:
    """Upload, finetune, poll, classify, and compare the served predictions with the job's metrics."""
    dataset = upload_dataset(stack, tmp_path)
    assert dataset["status"] == "ready"
    assert sorted(entry["name"] for entry in dataset["classes"]) == list(CLASSES)
    counts = {entry["name"]: entry["counts"] for entry in dataset["classes"]}
    assert counts["ants"]["train"] == TRAIN_PER_CLASS
    assert counts["bees"]["val"] == VAL_PER_CLASS

    job = create_job(stack, dataset["id"])
    assert job["status"] == "queued"
    assert job["hyperparameters"]["epochs"] == HYPERPARAMETERS["epochs"]

    finished = stack.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", f"{finished}\n{stack.logs()}"
    assert finished["model_id"]
    assert finished["progress"]["step"] == finished["progress"]["total_steps"]
    metrics = finished["metrics"]
    assert 0.0 <= metrics["zeroshot"]["val"]["accuracy"] <= 1.0
    assert len(metrics["epochs"]) == HYPERPARAMETERS["epochs"]

    samples = val_photos()
    result = classify(stack, finished["model_id"], [path for path, _ in samples])
    assert result["model_id"] == finished["model_id"]
    assert [item["filename"] for item in result["data"]] == [path.name for path, _ in samples]
    for item in result["data"]:
        labels = [prediction["label"] for prediction in item["predictions"]]
        assert sorted(labels) == sorted(CLASSES)
        assert abs(sum(prediction["score"] for prediction in item["predictions"]) - 1.0) < 1e-4

    # The served model is the evaluated one: its accuracy on the validation photos must match.
    correct = sum(item["predictions"][0]["label"] == label for item, (_, label) in zip(result["data"], samples))
    served_accuracy = correct / len(samples)
    reported = metrics["selected"]["val"]["accuracy"]
    assert abs(served_accuracy - reported) <= 1 / len(samples) + 1e-9, (served_accuracy, reported)

    events = stack.client.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    messages = [event["message"] for event in events]
    assert messages[0] == "Job created and queued."
    assert messages[-1] == "Job succeeded."
