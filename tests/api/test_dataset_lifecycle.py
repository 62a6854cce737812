"""Dry runs, deletes, shared storage and Idempotency-Key retries of datasets, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.ids import new_id
from core.store import datasets as dataset_store
from core.store.db import Database
from tests.api.datasets_support import error_of, files_under, ingest_area, post_dataset, storage_dir_of
from tests.stack import Stack
from tests.store_fixtures import insert_job
from tests.unit.archive_builders import class_files, photo_bytes, write_tar, write_zip


@pytest.fixture(scope="module")
def database(stack: Stack, postgres_url: str) -> Iterator[Database]:
    """The shared stack's database, for rows a test sets up directly and for storage paths."""
    database = Database(postgres_url)
    yield database
    database.dispose()


def pets_zip(tmp_path: Path, seed: int, name: str = "pets.zip") -> Path:
    return write_zip(tmp_path / name, class_files({"cats": 4, "dogs": 4}, seed=seed))


def create(stack: Stack, archive: Path, **kwargs: object) -> dict:
    response = post_dataset(stack, archive, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return response.json()


# The dry run.


def test_validate_returns_report_stores_nothing(stack: Stack, tmp_path: Path) -> None:
    before = files_under(*ingest_area(stack))
    response = post_dataset(stack, pets_zip(tmp_path, seed=51), path="/v1/datasets/validate")
    assert response.status_code == 200, response.text
    validation = response.json()

    assert validation["object"] == "dataset.validation"
    assert validation["valid"] is True
    assert validation["errors"] == []
    assert validation["num_images"] == 8
    assert [entry["name"] for entry in validation["classes"]] == ["cats", "dogs"]
    assert validation["report"]["accepted"] == 8
    assert files_under(*ingest_area(stack)) == before


def test_validate_lists_problems(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"cats": 4}, seed=52) | {"dogs/empty.jpg": b""}
    response = post_dataset(stack, write_zip(tmp_path / "bad.zip", files), path="/v1/datasets/validate")
    assert response.status_code == 200, response.text
    validation = response.json()

    assert validation["valid"] is False
    assert [problem["code"] for problem in validation["errors"]] == ["class_without_valid_images"]
    assert validation["errors"][0]["class"] == "dogs"
    assert validation["report"]["rejected"][0]["path"] == "dogs/empty.jpg"


def test_validate_only_flag_stores_nothing(stack: Stack, tmp_path: Path) -> None:
    before = files_under(*ingest_area(stack))
    listed_before = stack.client.get("/v1/datasets", params={"limit": 100}).json()["data"]
    response = post_dataset(stack, pets_zip(tmp_path, seed=53), fields={"validate_only": "true"})
    assert response.status_code == 200, response.text

    assert response.json()["object"] == "dataset.validation"
    assert response.json()["valid"] is True
    assert files_under(*ingest_area(stack)) == before
    assert stack.client.get("/v1/datasets", params={"limit": 100}).json()["data"] == listed_before


def test_validate_unsafe_archive_422(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"cats": 2, "dogs": 2}, seed=54) | {"../escape.txt": b"x"}
    response = post_dataset(stack, write_zip(tmp_path / "unsafe.zip", files), path="/v1/datasets/validate")
    assert response.status_code == 422
    assert error_of(response)["code"] == "unsafe_archive"


# Deleting.


def test_delete_removes_row_and_files(stack: Stack, tmp_path: Path, database: Database) -> None:
    dataset = create(stack, pets_zip(tmp_path, seed=55))
    storage_dir = storage_dir_of(database, dataset["id"])
    assert storage_dir is not None and storage_dir.is_dir()

    response = stack.client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": dataset["id"], "object": "dataset", "deleted": True}
    assert stack.client.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert dataset["id"] not in [item["id"] for item in stack.client.get("/v1/datasets", params={"limit": 100}).json()["data"]]
    assert not storage_dir.exists()
    assert [path.name for path in storage_dir.parent.iterdir() if path.name.startswith(".trash-")] == []


def test_delete_unknown_404(stack: Stack) -> None:
    response = stack.client.delete("/v1/datasets/ds_missing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "dataset_not_found"


def test_delete_twice_404(stack: Stack, tmp_path: Path) -> None:
    dataset = create(stack, pets_zip(tmp_path, seed=56))
    assert stack.client.delete(f"/v1/datasets/{dataset['id']}").status_code == 200
    assert stack.client.delete(f"/v1/datasets/{dataset['id']}").status_code == 404


def test_delete_with_queued_job_409(stack: Stack, tmp_path: Path, database: Database) -> None:
    dataset = create(stack, pets_zip(tmp_path, seed=57))
    storage_dir = storage_dir_of(database, dataset["id"])
    job_id = insert_job(database, dataset["id"])  # queued, and never sent to a worker

    refused = stack.client.delete(f"/v1/datasets/{dataset['id']}")
    assert refused.status_code == 409
    error = error_of(refused)
    assert error["code"] == "dataset_in_use"
    assert error["details"] == {"job_ids": [job_id]}
    assert job_id in error["message"]
    assert storage_dir.is_dir()
    assert stack.client.get(f"/v1/datasets/{dataset['id']}").status_code == 200

    assert stack.client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    assert stack.client.delete(f"/v1/datasets/{dataset['id']}").status_code == 200
    assert stack.client.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert not storage_dir.exists()
    job = stack.client.get(f"/v1/jobs/{job_id}")
    assert job.status_code == 200
    assert job.json()["dataset_id"] == dataset["id"]


def test_new_job_on_deleted_dataset_404(stack: Stack, tmp_path: Path, database: Database) -> None:
    dataset = create(stack, pets_zip(tmp_path, seed=58))
    job_id = insert_job(database, dataset["id"])
    assert stack.client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    assert stack.client.delete(f"/v1/datasets/{dataset['id']}").status_code == 200

    response = stack.client.post("/v1/jobs", json={"dataset_id": dataset["id"], "model": {"architecture": "flyp-tiny"}})
    assert response.status_code == 404
    assert error_of(response)["code"] == "dataset_not_found"


def test_delete_processing_409(stack: Stack, database: Database) -> None:
    dataset_id = new_id("ds")
    with database.session() as session:
        dataset_store.insert_dataset(
            session, dataset_id=dataset_id, tenant_id=None, name="processing", status="processing", content_hash="0" * 64,
            storage_dir=None, size_bytes=1, report={}, ingest_options={},
        )
    response = stack.client.delete(f"/v1/datasets/{dataset_id}")
    assert response.status_code == 409
    assert error_of(response)["code"] == "dataset_processing"


# One stored copy per archive and options.


def test_same_archive_twice_shares_storage(stack: Stack, tmp_path: Path, database: Database) -> None:
    archive = pets_zip(tmp_path, seed=59)
    datasets_dir = ingest_area(stack)[0]
    first = create(stack, archive, name="first")
    stored_after_first = sorted(path.name for path in datasets_dir.iterdir())
    second = create(stack, archive, name="second")
    storage_dir = storage_dir_of(database, first["id"])

    assert second["id"] != first["id"]
    assert second["name"] == "second"
    assert second["classes"] == first["classes"]
    assert storage_dir_of(database, second["id"]) == storage_dir
    assert sorted(path.name for path in datasets_dir.iterdir()) == stored_after_first

    assert stack.client.delete(f"/v1/datasets/{first['id']}").status_code == 200
    assert storage_dir.is_dir()
    assert (storage_dir / "manifest.json").is_file()
    assert stack.client.get(f"/v1/datasets/{second['id']}").json()["status"] == "ready"

    assert stack.client.delete(f"/v1/datasets/{second['id']}").status_code == 200
    assert not storage_dir.exists()


def test_other_options_store_separately(stack: Stack, tmp_path: Path, database: Database) -> None:
    archive = pets_zip(tmp_path, seed=60)
    plain = create(stack, archive)
    named = create(stack, archive, display_names={"cats": "house cat"})

    assert storage_dir_of(database, plain["id"]) != storage_dir_of(database, named["id"])
    assert {entry["display_name"] for entry in named["classes"]} == {"house cat", "dogs"}
    assert {entry["display_name"] for entry in plain["classes"]} == {"cats", "dogs"}


def test_same_images_other_archive_format_stored_separately(stack: Stack, tmp_path: Path, database: Database) -> None:
    files = class_files({"cats": 3, "dogs": 3}, seed=61)
    from_zip = create(stack, write_zip(tmp_path / "pets.zip", files))
    from_tar = create(stack, write_tar(tmp_path / "pets.tar.gz", files))
    assert storage_dir_of(database, from_zip["id"]) != storage_dir_of(database, from_tar["id"])


# Idempotency-Key.


def test_idempotency_key_returns_first_dataset(stack: Stack, tmp_path: Path) -> None:
    archive = pets_zip(tmp_path, seed=62)
    headers = {"Idempotency-Key": new_id("key")}
    first = post_dataset(stack, archive, name="once", headers=headers)
    retry = post_dataset(stack, archive, name="once", headers=headers)
    listed = stack.client.get("/v1/datasets", params={"limit": 100}).json()["data"]

    assert first.status_code == 201, first.text
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert [item["name"] for item in listed].count("once") == 1


def test_idempotency_key_other_request_422(stack: Stack, tmp_path: Path) -> None:
    archive = pets_zip(tmp_path, seed=63)
    headers = {"Idempotency-Key": new_id("key")}
    assert post_dataset(stack, archive, name="original", headers=headers).status_code == 201

    for changed in ({"name": "renamed"}, {"name": "original", "display_names": {"cats": "cat"}}):
        response = post_dataset(stack, archive, headers=headers, **changed)  # type: ignore[arg-type]
        assert response.status_code == 422, changed
        assert error_of(response)["code"] == "idempotency_key_reused"
        assert error_of(response)["param"] == "Idempotency-Key"

    other_archive = write_zip(tmp_path / "other.zip", class_files({"cats": 4, "dogs": 4}, seed=64) | {"cats/extra.jpg": photo_bytes(9)})
    response = post_dataset(stack, other_archive, name="original", headers=headers)
    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"


def test_idempotency_key_free_after_delete(stack: Stack, tmp_path: Path) -> None:
    archive = pets_zip(tmp_path, seed=65)
    headers = {"Idempotency-Key": new_id("key")}
    first = post_dataset(stack, archive, headers=headers).json()
    assert stack.client.delete(f"/v1/datasets/{first['id']}").status_code == 200

    again = post_dataset(stack, archive, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first["id"]


def test_idempotency_key_invalid_422(stack: Stack, tmp_path: Path) -> None:
    response = post_dataset(stack, pets_zip(tmp_path, seed=66), headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_idempotency_key"
