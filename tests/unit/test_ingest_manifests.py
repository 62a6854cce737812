"""Tests of label manifests (CSV and JSONL) inside archives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.ingest import DatasetInvalidError, IngestResult, ingest_archive
from tests.unit.archive_builders import TEST_LIMITS, photo_bytes, write_tar, write_zip


def ingest(archive: Path, tmp_path: Path) -> IngestResult:
    return ingest_archive(archive, tmp_path / "dataset", limits=TEST_LIMITS, val_fraction=0.25)


def flat_images(count: int, folder: str = "images") -> dict[str, bytes]:
    return {f"{folder}/{index:03d}.jpg": photo_bytes(index) for index in range(count)}


def counts(result: IngestResult) -> dict[str, dict[str, int]]:
    return {entry["name"]: entry["counts"] for entry in result.report["classes"]}


def test_manifest_csv_labels_flat_folder(tmp_path: Path) -> None:
    images = flat_images(8)
    rows = ["filename,label"] + [f"{path},{'cat' if index % 2 else 'dog'}" for index, path in enumerate(images)]
    files = images | {"labels.csv": "\n".join(rows).encode()}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)

    assert result.report["layout"]["labels_from"] == "manifest"
    assert result.report["layout"]["manifest"] == "labels.csv"
    assert counts(result)["cat"] == {"train": 3, "val": 1, "test": 0}
    assert counts(result)["dog"] == {"train": 3, "val": 1, "test": 0}
    assert result.report["ignored"]["count"] == 0


def test_manifest_csv_split_column_and_wrapper(tmp_path: Path) -> None:
    images = flat_images(6, folder="export/pics")
    splits = ["train", "train", "val", "train", "train", "validation"]
    rows = ["Image;Class;Split"] + [f"pics/{Path(path).name};{'a' if index < 3 else 'b'};{splits[index]}" for index, path in enumerate(images)]
    files = images | {"export/meta.csv": ("\ufeff" + "\n".join(rows)).encode()}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)

    assert result.report["split"]["source"] == "manifest"
    assert counts(result)["a"] == {"train": 2, "val": 1, "test": 0}
    assert counts(result)["b"] == {"train": 2, "val": 1, "test": 0}
    assert result.report["layout"]["wrappers"] == ["export"]


def test_manifest_jsonl_with_display_names(tmp_path: Path) -> None:
    images = flat_images(4)
    lines = [
        json.dumps({"path": path, "label": index % 2, "display_name": ["zero things", "one thing"][index % 2]})
        for index, path in enumerate(images)
    ]
    files = images | {"data.jsonl": "\n".join(lines).encode()}
    result = ingest(write_tar(tmp_path / "upload.tar.gz", files), tmp_path)
    names = {entry.name: entry.display_name for entry in result.manifest.classes}
    assert names == {"0": "zero things", "1": "one thing"}


def test_manifest_row_errors_reported(tmp_path: Path) -> None:
    images = flat_images(6)
    rows = [
        "path,label,split",
        "images/000.jpg,cat,train",
        "images/001.jpg,cat,",
        "images/002.jpg,dog,",
        "images/003.jpg,dog,",
        "images/missing.jpg,dog,",
        "../../etc/passwd,dog,",
        "images/004.jpg,,",
        "images/005.jpg,cat,holdout",
        "images/000.jpg,dog,",
        "images/001.jpg,cat,",
    ]
    files = images | {"labels.csv": "\n".join(rows).encode()}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    codes = {item["path"]: item["code"] for item in result.report["rejected"]}

    assert codes == {
        "images/missing.jpg": "missing_file",
        "../../etc/passwd": "invalid_path",
        "images/004.jpg": "missing_label",
        "images/005.jpg": "invalid_split",
        "images/000.jpg": "conflicting_labels",
    }
    assert result.report["accepted"] == 3
    assert "line 6 of labels.csv" in next(item["message"] for item in result.report["rejected"] if item["code"] == "missing_file")


def test_manifest_unlisted_files_ignored(tmp_path: Path) -> None:
    images = flat_images(5)
    rows = ["path,label", "images/000.jpg,a", "images/001.jpg,a", "images/002.jpg,b", "images/003.jpg,b"]
    files = images | {"labels.csv": "\n".join(rows).encode(), "README.md": b"notes"}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    warnings = {warning["code"]: warning for warning in result.report["warnings"]}

    assert result.report["ignored"]["reasons"] == {"not_in_manifest": 2}
    assert warnings["files_not_in_manifest"]["count"] == 2


def test_manifest_with_one_label_rejected(tmp_path: Path) -> None:
    images = flat_images(3)
    files = images | {"labels.csv": ("path,label\n" + "\n".join(f"{path},cat" for path in images)).encode()}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert caught.value.details[0]["code"] == "too_few_classes"
    assert "labels.csv" in caught.value.details[0]["message"]


def test_two_manifests_rejected(tmp_path: Path) -> None:
    images = flat_images(2)
    table = ("path,label\n" + "\n".join(f"{path},{index}" for index, path in enumerate(images))).encode()
    files = images | {"a.csv": table, "b.csv": table}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert "multiple_manifests" in [problem["code"] for problem in caught.value.details]


def test_csv_without_label_column_not_a_manifest(tmp_path: Path) -> None:
    files = {"cats/a.jpg": photo_bytes(1), "dogs/b.jpg": photo_bytes(2), "sources.csv": b"url,licence\nhttp://x,cc0\n"}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert result.report["layout"]["labels_from"] == "folders"
    assert result.report["ignored"]["reasons"] == {"outside_class_folder": 1}


def test_manifest_not_utf8_rejected(tmp_path: Path) -> None:
    files = flat_images(2) | {"labels.csv": "path,label\nimages/000.jpg,caf\u00e9\n".encode("utf-16")}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert "manifest_invalid" in [problem["code"] for problem in caught.value.details]


def test_manifest_with_too_many_rows_rejected(tmp_path: Path) -> None:
    rows = "path,label\n" + "images/000.jpg,a\n" * (TEST_LIMITS.max_members + 5)
    files = flat_images(2) | {"labels.csv": rows.encode()}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    problem = next(problem for problem in caught.value.details if problem["code"] == "manifest_invalid")
    assert str(TEST_LIMITS.max_members) in problem["message"]
