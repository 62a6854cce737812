"""Upload and archive limits, and ingest by a worker (202), on a stack with small limits of its own.

The real ants and bees archive is here too: at about 45 MB it is above this stack's inline
limit, so a worker ingests it.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store.db import Database
from tests.api.datasets_support import (
    error_of,
    files_under,
    ingest_area,
    post_dataset,
    storage_dir_of,
    streamed_multipart,
    wait_for_dataset,
)
from tests.data import hymenoptera_dir
from tests.stack import Stack, distributed_stack
from tests.unit.archive_builders import GIB, MIB, class_files, gzip_tar_bomb, photo_bytes, write_zip, write_zip_bomb

MAX_UPLOAD_BYTES = 64 * MIB
INLINE_MAX_BYTES = 8 * MIB
MAX_ARCHIVE_MEMBERS = 10_000
MAX_EXPANDED_BYTES = 96 * MIB


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str) -> Iterator[Stack]:
    with distributed_stack(
        tmp_path_factory.mktemp("limits"),
        database_url=postgres_url,
        broker_url=redis_url,
        queue=f"flyp-test-{uuid.uuid4().hex[:12]}",
        max_upload_bytes=str(MAX_UPLOAD_BYTES),
        ingest_inline_max_bytes=str(INLINE_MAX_BYTES),
        max_archive_members=str(MAX_ARCHIVE_MEMBERS),
        max_expanded_bytes=str(MAX_EXPANDED_BYTES),
    ) as running:
        yield running


def uploads(stack: Stack) -> list[str]:
    return sorted(path.name for path in ingest_area(stack)[1].iterdir())


# The upload cap.


def test_upload_over_cap_413(small_stack: Stack) -> None:
    boundary = uuid.uuid4().hex
    body = streamed_multipart(boundary, file_size=MAX_UPLOAD_BYTES + 4 * MIB)
    response = small_stack.client.post(
        "/v1/datasets", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    error = error_of(response)

    assert error["code"] == "upload_too_large"
    assert error["param"] == "file"
    assert str(MAX_UPLOAD_BYTES) in error["message"]
    assert uploads(small_stack) == []


def test_upload_under_cap_accepted(small_stack: Stack, tmp_path: Path) -> None:
    response = post_dataset(small_stack, write_zip(tmp_path / "small.zip", class_files({"cats": 3, "dogs": 3}, seed=41)))
    assert response.status_code == 201, response.text
    assert uploads(small_stack) == []


# Archive bombs: limits counted while decompressing.


@pytest.mark.parametrize("kind", ["zip", "tar_gz"])
def test_two_gib_entry_413(small_stack: Stack, tmp_path: Path, kind: str) -> None:
    before = files_under(*ingest_area(small_stack))
    if kind == "zip":
        archive = write_zip_bomb(tmp_path / "bomb.zip", "cats/zeros.jpg", 2 * GIB)
    else:
        archive = gzip_tar_bomb(tmp_path / "bomb.tar.gz", "cats/zeros.jpg", 2 * GIB, extra_files={"cats/a.jpg": photo_bytes(1)})
    assert archive.stat().st_size < INLINE_MAX_BYTES
    response = post_dataset(small_stack, archive)
    assert response.status_code == 413
    error = error_of(response)

    assert error["code"] == "archive_too_large"
    assert str(MAX_EXPANDED_BYTES) in error["message"]
    assert files_under(*ingest_area(small_stack)) == before


def test_50000_entries_413(small_stack: Stack, tmp_path: Path) -> None:
    before = files_under(*ingest_area(small_stack))
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(50_000):
            archive.writestr(f"cats/{index}.txt", b"")
    response = post_dataset(small_stack, path)
    assert response.status_code == 413
    error = error_of(response)

    assert error["code"] == "archive_too_large"
    assert str(MAX_ARCHIVE_MEMBERS) in error["message"]
    assert files_under(*ingest_area(small_stack)) == before


def nested_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/a.jpg", photo_bytes(50))
    return buffer.getvalue()


def test_nested_archive_skipped_with_warning(small_stack: Stack, tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, seed=42) | {"cats/more.zip": nested_zip_bytes()}
    response = post_dataset(small_stack, write_zip(tmp_path / "nested.zip", files))
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    warnings = {warning["code"]: warning for warning in report["warnings"]}

    assert report["skipped_archives"] == ["cats/more.zip"]
    assert warnings["nested_archives_skipped"]["count"] == 1
    assert report["rejected"] == []
    assert report["accepted"] == 6


# Ingest by a worker.


def large_photos_zip(path: Path, classes: tuple[str, ...]) -> Path:
    """Write photos of 2000x1500 noise, about 1.8 MB each, so three per class pass the inline limit."""
    files = {f"{name}/{index}.jpg": photo_bytes(100 * position + index, size=(2000, 1500)) for position, name in enumerate(classes) for index in range(3)}
    archive = write_zip(path, files)
    assert archive.stat().st_size > INLINE_MAX_BYTES
    return archive


def test_large_upload_202_then_ready(small_stack: Stack, tmp_path: Path) -> None:
    response = post_dataset(small_stack, large_photos_zip(tmp_path / "large.zip", ("cats", "dogs")), name="large")
    assert response.status_code == 202, response.text
    accepted = response.json()

    assert accepted["status"] == "processing"
    assert accepted["classes"] == []
    assert response.headers["Location"] == f"/v1/datasets/{accepted['id']}"

    dataset = wait_for_dataset(small_stack, accepted["id"])
    assert dataset["status"] == "ready", dataset["error"]
    assert dataset["error"] is None
    assert dataset["num_images"] == 6
    assert [entry["name"] for entry in dataset["classes"]] == ["cats", "dogs"]
    assert uploads(small_stack) == []


def test_large_upload_202_then_failed(small_stack: Stack, tmp_path: Path) -> None:
    stored_before = files_under(ingest_area(small_stack)[0])
    response = post_dataset(small_stack, large_photos_zip(tmp_path / "collide.zip", ("cats", "Cats")), name="bad")
    assert response.status_code == 202, response.text

    dataset = wait_for_dataset(small_stack, response.json()["id"])
    assert dataset["status"] == "failed"
    assert dataset["error"]["code"] == "dataset_invalid"
    assert [problem["code"] for problem in dataset["error"]["details"]] == ["class_names_collide"]
    assert dataset["report"]["accepted"] == 6
    assert sorted(entry["name"] for entry in dataset["report"]["classes"]) == ["Cats", "cats"]
    assert files_under(ingest_area(small_stack)[0]) == stored_before
    assert uploads(small_stack) == []

    deleted = small_stack.client.delete(f"/v1/datasets/{dataset['id']}")
    assert deleted.status_code == 200
    assert small_stack.client.get(f"/v1/datasets/{dataset['id']}").status_code == 404


# The real ants and bees archive, as a desktop zip tool writes it.


@pytest.fixture(scope="module")
def hymenoptera_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = hymenoptera_dir()
    path = tmp_path_factory.mktemp("hymenoptera") / "hymenoptera_data.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(source.rglob("*")):
            if file.is_file():
                archive.write(file, f"hymenoptera_data/{file.relative_to(source)}")
    return path


@pytest.fixture(scope="module")
def hymenoptera_dataset(small_stack: Stack, hymenoptera_zip: Path) -> dict:
    """The ants and bees dataset, once a worker has ingested it."""
    assert INLINE_MAX_BYTES < hymenoptera_zip.stat().st_size < MAX_UPLOAD_BYTES
    response = post_dataset(small_stack, hymenoptera_zip, name="ants and bees")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    assert response.headers["Location"] == f"/v1/datasets/{response.json()['id']}"
    return wait_for_dataset(small_stack, response.json()["id"])


@pytest.fixture(scope="module")
def database(small_stack: Stack, postgres_url: str) -> Iterator[Database]:
    """The stack's database, for reading where a dataset's files are."""
    database = Database(postgres_url)
    yield database
    database.dispose()


def test_ants_and_bees_ready(hymenoptera_dataset: dict) -> None:
    source = hymenoptera_dir()
    counts = {entry["name"]: entry["counts"] for entry in hymenoptera_dataset["classes"]}

    assert hymenoptera_dataset["status"] == "ready", hymenoptera_dataset["error"]
    for class_name in ("ants", "bees"):
        for split in ("train", "val"):
            assert counts[class_name][split] == len(list((source / split / class_name).iterdir())), (class_name, split)
    assert hymenoptera_dataset["report"]["layout"]["wrappers"] == ["hymenoptera_data"]
    assert hymenoptera_dataset["report"]["split"]["source"] == "folders"
    assert hymenoptera_dataset["report"]["rejected"] == []


def test_ants_and_bees_placeholder_flagged(hymenoptera_dataset: dict) -> None:
    report = hymenoptera_dataset["report"]
    warnings = {warning["code"]: warning for warning in report["warnings"]}

    assert [item["path"] for item in report["flagged"]] == ["hymenoptera_data/train/ants/imageNotFound.gif"]
    assert report["flagged"][0]["code"] == "suspected_placeholder"
    assert "suspected_placeholder" in warnings


def test_ants_and_bees_reupload_shares_storage(
    small_stack: Stack, hymenoptera_zip: Path, hymenoptera_dataset: dict, database: Database
) -> None:
    datasets_dir = ingest_area(small_stack)[0]
    stored_before = sorted(path.name for path in datasets_dir.iterdir())
    response = post_dataset(small_stack, hymenoptera_zip, name="ants and bees again")
    # Already stored with the same options, so no worker is needed whatever the size.
    assert response.status_code == 201, response.text
    again = response.json()

    assert again["id"] != hymenoptera_dataset["id"]
    assert again["classes"] == hymenoptera_dataset["classes"]
    assert storage_dir_of(database, again["id"]) == storage_dir_of(database, hymenoptera_dataset["id"])
    assert sorted(path.name for path in datasets_dir.iterdir()) == stored_before
