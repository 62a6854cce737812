"""Every supported archive format and layout, uploaded through the real API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api.datasets_support import post_dataset
from tests.stack import Stack
from tests.unit.archive_builders import class_files, photo_bytes, write_tar, write_zip


def counts_of(dataset: dict) -> dict[str, dict[str, int]]:
    return {entry["name"]: entry["counts"] for entry in dataset["classes"]}


def flat_class_folders(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "flat.zip", class_files({"cats": 5, "dogs": 5}, seed=1))


def split_folders(tmp_path: Path) -> Path:
    files = class_files({"cats": 4, "dogs": 4}, prefix="train/", seed=2) | class_files({"cats": 2, "dogs": 2}, prefix="val/", seed=3)
    return write_zip(tmp_path / "splits.zip", files)


def split_folders_with_test(tmp_path: Path) -> Path:
    files = class_files({"cats": 4, "dogs": 4}, prefix="train/", seed=4)
    files |= class_files({"cats": 2, "dogs": 2}, prefix="val/", seed=5) | class_files({"cats": 1, "dogs": 1}, prefix="test/", seed=6)
    return write_tar(tmp_path / "splits.tar", files, mode="w")


def wrapped_tar_gz(tmp_path: Path) -> Path:
    return write_tar(tmp_path / "wrapped.tar.gz", class_files({"cats": 5, "dogs": 5}, prefix="my_export/", seed=7))


def wrapped_tgz_with_splits(tmp_path: Path) -> Path:
    files = class_files({"cats": 4, "dogs": 4}, prefix="photos/train/", seed=8) | class_files({"cats": 2, "dogs": 2}, prefix="photos/val/", seed=9)
    return write_tar(tmp_path / "wrapped.tgz", files)


def csv_manifest(tmp_path: Path) -> Path:
    images = {f"images/{index:03d}.jpg": photo_bytes(1000 + index) for index in range(9)}
    labels = ["cat", "dog", "owl"]
    rows = ["path,label,split"] + [f"{path},{labels[index % 3]},{'val' if index >= 6 else 'train'}" for index, path in enumerate(images)]
    return write_zip(tmp_path / "manifest.zip", images | {"labels.csv": "\n".join(rows).encode()})


def jsonl_manifest(tmp_path: Path) -> Path:
    images = {f"export/pics/{index:03d}.jpg": photo_bytes(2000 + index) for index in range(8)}
    lines = [json.dumps({"file": f"pics/{Path(path).name}", "class": "even" if index % 2 == 0 else "odd"}) for index, path in enumerate(images)]
    return write_tar(tmp_path / "manifest.tar.gz", images | {"export/labels.jsonl": "\n".join(lines).encode()})


# (builder, expected layout format, labels_from, wrappers, counts per class)
FORMATS: dict[str, tuple[Callable[[Path], Path], str, str, list[str], dict[str, dict[str, int]]]] = {
    "zip_class_folders": (flat_class_folders, "zip", "folders", [], {"cats": {"train": 4, "val": 1, "test": 0}, "dogs": {"train": 4, "val": 1, "test": 0}}),
    "zip_train_val": (split_folders, "zip", "folders", [], {"cats": {"train": 4, "val": 2, "test": 0}, "dogs": {"train": 4, "val": 2, "test": 0}}),
    "tar_train_val_test": (split_folders_with_test, "tar", "folders", [], {"cats": {"train": 4, "val": 2, "test": 1}, "dogs": {"train": 4, "val": 2, "test": 1}}),
    "tar_gz_wrapper": (wrapped_tar_gz, "tar", "folders", ["my_export"], {"cats": {"train": 4, "val": 1, "test": 0}, "dogs": {"train": 4, "val": 1, "test": 0}}),
    "tgz_wrapper_splits": (wrapped_tgz_with_splits, "tar", "folders", ["photos"], {"cats": {"train": 4, "val": 2, "test": 0}, "dogs": {"train": 4, "val": 2, "test": 0}}),
    "zip_csv_manifest": (csv_manifest, "zip", "manifest", [], {"cat": {"train": 2, "val": 1, "test": 0}, "dog": {"train": 2, "val": 1, "test": 0}, "owl": {"train": 2, "val": 1, "test": 0}}),
    "tar_gz_jsonl_manifest": (jsonl_manifest, "tar", "manifest", ["export"], {"even": {"train": 3, "val": 1, "test": 0}, "odd": {"train": 3, "val": 1, "test": 0}}),
}


@pytest.mark.parametrize("case", sorted(FORMATS))
def test_format_ingested(stack: Stack, tmp_path: Path, case: str) -> None:
    build, archive_format, labels_from, wrappers, expected_counts = FORMATS[case]
    response = post_dataset(stack, build(tmp_path), name=case)
    assert response.status_code == 201, response.text
    dataset = response.json()

    assert dataset["status"] == "ready"
    assert dataset["name"] == case
    assert counts_of(dataset) == expected_counts
    assert dataset["num_images"] == sum(sum(split.values()) for split in expected_counts.values())
    assert dataset["report"]["layout"]["format"] == archive_format
    assert dataset["report"]["layout"]["labels_from"] == labels_from
    assert dataset["report"]["layout"]["wrappers"] == wrappers
    assert dataset["report"]["rejected"] == []

    fetched = stack.client.get(f"/v1/datasets/{dataset['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["classes"] == dataset["classes"]


def test_display_names_form_field(stack: Stack, tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "pets.zip", class_files({"golden_retriever": 3, "tabby_cat": 3}, seed=11))
    response = post_dataset(stack, archive, display_names={"golden_retriever": "golden retriever dog", "parrot": "parrot"})
    assert response.status_code == 201, response.text
    dataset = response.json()
    names = {entry["name"]: entry["display_name"] for entry in dataset["classes"]}
    warnings = {warning["code"] for warning in dataset["report"]["warnings"]}

    assert names == {"golden_retriever": "golden retriever dog", "tabby_cat": "tabby cat"}
    assert "unknown_display_names" in warnings


def test_display_names_file_in_archive(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"n01": 3, "n02": 3}, seed=12) | {"display_names.json": json.dumps({"n01": "goldfish", "n02": "shark"}).encode()}
    response = post_dataset(stack, write_zip(tmp_path / "codes.zip", files))
    assert response.status_code == 201, response.text
    names = {entry["name"]: entry["display_name"] for entry in response.json()["classes"]}
    assert names == {"n01": "goldfish", "n02": "shark"}


def test_form_display_names_override_archive(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"n01": 3, "n02": 3}, seed=13) | {"display_names.json": json.dumps({"n01": "goldfish", "n02": "shark"}).encode()}
    response = post_dataset(stack, write_zip(tmp_path / "codes.zip", files), display_names={"n02": "great white shark"})
    assert response.status_code == 201, response.text
    names = {entry["name"]: entry["display_name"] for entry in response.json()["classes"]}
    assert names == {"n01": "goldfish", "n02": "great white shark"}


@pytest.mark.parametrize(
    "value, fragment",
    [("{not json", "not valid JSON"), ('["cats"]', "JSON object of strings"), ('{"cats": 3}', "JSON object of strings")],
)
def test_display_names_invalid_422(stack: Stack, tmp_path: Path, value: str, fragment: str) -> None:
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": 2, "dogs": 2}, seed=14))
    response = post_dataset(stack, archive, fields={"display_names": value})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_display_names"
    assert error["param"] == "display_names"
    assert fragment in error["message"]


def test_unknown_form_field_422(stack: Stack, tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": 2, "dogs": 2}, seed=15))
    response = post_dataset(stack, archive, fields={"display_name": "{}"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_field"
    assert error["param"] == "display_name"


def test_not_an_archive_422(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    path.write_bytes(b"these are not the photos you are looking for\n" * 20)
    response = post_dataset(stack, path)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_archive"
