"""Tests of ingest layouts, splits, the stored dataset and the report, on generated archives."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.errors import InvalidRequestError
from core.images import decode_image
from core.ingest import DatasetInvalidError, IngestResult, ingest_archive, validate_archive
from core.manifest import DatasetManifest
from tests.unit.archive_builders import TEST_LIMITS, class_files, photo_bytes, write_tar, write_zip


def ingest(archive: Path, tmp_path: Path, **options: object) -> IngestResult:
    options.setdefault("val_fraction", 0.2)
    return ingest_archive(archive, tmp_path / "dataset", limits=TEST_LIMITS, **options)  # type: ignore[arg-type]


def class_counts(result: IngestResult) -> dict[str, dict[str, int]]:
    return {entry["name"]: entry["counts"] for entry in result.report["classes"]}


def problem_codes(error: pytest.ExceptionInfo[DatasetInvalidError]) -> list[str]:
    return [problem["code"] for problem in error.value.details]


def test_ingest_class_folders_stores_dataset(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 10, "dogs": 12}))
    result = ingest(archive, tmp_path)
    dataset = tmp_path / "dataset"
    stored = DatasetManifest.load(dataset)

    assert [entry.name for entry in stored.classes] == ["cats", "dogs"]
    assert len(stored.items) == 22
    assert result.report["accepted"] == 22
    assert json.loads((dataset / "report.json").read_text()) == result.report
    assert sorted(path.name for path in (dataset / "images").iterdir()) == sorted(Path(item.path).name for item in stored.items)


def test_ingest_stores_files_under_content_hash(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3})
    archive = write_zip(tmp_path / "upload.zip", files)
    result = ingest(archive, tmp_path)
    hashes = {hashlib.sha256(data).hexdigest() for data in files.values()}

    for item in result.manifest.items:
        stored = tmp_path / "dataset" / item.path
        assert item.path == f"images/{item.sha256}.jpg"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == item.sha256
    assert {item.sha256 for item in result.manifest.items} == hashes


def test_ingest_content_hash_of_archive(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 2, "dogs": 2}))
    result = ingest(archive, tmp_path)
    assert result.content_hash == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_ingest_held_out_split_stratified(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 10, "dogs": 2, "owls": 1, "rats": 31}))
    result = ingest(archive, tmp_path, val_fraction=0.2)
    counts = class_counts(result)

    assert result.report["split"] == {"source": "held_out", "val_fraction": 0.2, "seed": 0}
    assert counts["cats"] == {"train": 8, "val": 2, "test": 0}
    assert counts["dogs"] == {"train": 1, "val": 1, "test": 0}
    assert counts["owls"] == {"train": 1, "val": 0, "test": 0}
    assert counts["rats"] == {"train": 25, "val": 6, "test": 0}


def test_ingest_split_seeded_and_repeatable(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 20, "dogs": 20}))

    def validation_hashes(seed: int) -> set[str]:
        result = validate_archive(archive, limits=TEST_LIMITS, val_fraction=0.25, seed=seed)
        return {item.sha256 for item in result.manifest.items if item.split == "val"}

    assert validation_hashes(0) == validation_hashes(0)
    assert validation_hashes(0) != validation_hashes(1)


def test_ingest_train_val_folders_used(tmp_path: Path) -> None:
    files = class_files({"cats": 4, "dogs": 5}, prefix="train/") | class_files({"cats": 2, "dogs": 1}, prefix="val/", seed=1)
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    counts = class_counts(result)

    assert result.report["split"]["source"] == "folders"
    assert counts["cats"] == {"train": 4, "val": 2, "test": 0}
    assert counts["dogs"] == {"train": 5, "val": 1, "test": 0}


def test_ingest_split_folder_aliases_and_test(tmp_path: Path) -> None:
    files = (
        class_files({"cats": 3, "dogs": 3}, prefix="Training/")
        | class_files({"cats": 1, "dogs": 1}, prefix="validation/", seed=1)
        | class_files({"cats": 2, "dogs": 2}, prefix="test/", seed=2)
    )
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert class_counts(result)["cats"] == {"train": 3, "val": 1, "test": 2}


def test_ingest_train_only_holds_out_val(tmp_path: Path) -> None:
    files = class_files({"cats": 5, "dogs": 5}, prefix="train/")
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert result.report["split"]["source"] == "held_out"
    assert class_counts(result)["cats"] == {"train": 4, "val": 1, "test": 0}


def test_ingest_wrapper_with_splits_unwrapped(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="export/train/") | class_files({"cats": 1, "dogs": 1}, prefix="export/val/", seed=1)
    files["export/README.md"] = b"# my dataset\n"
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)

    assert result.report["layout"]["wrappers"] == ["export"]
    assert result.report["split"]["source"] == "folders"
    assert result.report["ignored"]["reasons"] == {"outside_class_folder": 1}


def test_ingest_mixed_layout_rejected(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="train/") | class_files({"owls": 3}, seed=1)
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert "mixed_layout" in problem_codes(caught)


def test_ingest_val_without_train_rejected(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="val/")
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert "missing_train_split" in problem_codes(caught)


def test_ingest_class_only_in_val_rejected(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="train/") | class_files({"owls": 2}, prefix="val/", seed=1)
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    problems = caught.value.details
    assert [problem["code"] for problem in problems] == ["class_without_train_images"]
    assert problems[0]["class"] == "owls"


@pytest.mark.parametrize("mode, suffix", [("w:gz", "tar.gz"), ("w", "tar"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")])
def test_ingest_tar_formats(tmp_path: Path, mode: str, suffix: str) -> None:
    archive = write_tar(tmp_path / f"upload.{suffix}", class_files({"cats": 3, "dogs": 4}, prefix="./data/"), mode=mode)
    result = ingest(archive, tmp_path)
    assert result.report["layout"]["format"] == "tar"
    assert result.report["accepted"] == 7
    assert result.report["layout"]["wrappers"] == ["data"]


def test_ingest_one_class_rejected(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 5}))
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(archive, tmp_path)
    assert problem_codes(caught) == ["too_few_classes"]
    assert caught.value.http_status == 422
    assert caught.value.param == "file"
    assert "cats" in caught.value.details[0]["message"]


def test_ingest_invalid_dataset_keeps_report(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 5}))
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(archive, tmp_path)
    assert caught.value.report["accepted"] == 5


def test_ingest_colliding_class_names_rejected(tmp_path: Path) -> None:
    files = class_files({"Golden_Retriever": 2, "golden retriever": 2, "cats": 2})
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    problems = caught.value.details
    assert [problem["code"] for problem in problems] == ["class_names_collide"]
    assert problems[0]["classes"] == ["Golden_Retriever", "golden retriever"]


def test_ingest_unicode_forms_merged(tmp_path: Path) -> None:
    # The same folder name in composed (Linux) and decomposed (macOS) form is one class.
    files = {"caf\u00e9/a.jpg": photo_bytes(1), "cafe\u0301/b.jpg": photo_bytes(2), "dogs/c.jpg": photo_bytes(3)}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert class_counts(result)["caf\u00e9"]["train"] + class_counts(result)["caf\u00e9"]["val"] == 2
    assert [entry["name"] for entry in result.report["classes"]] == ["caf\u00e9", "dogs"]


def test_ingest_full_width_names_collide(tmp_path: Path) -> None:
    files = {"\uff43\uff41\uff54\uff53/a.jpg": photo_bytes(1), "cats/b.jpg": photo_bytes(2), "dogs/c.jpg": photo_bytes(3)}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert caught.value.details[0]["classes"] == ["cats", "\uff43\uff41\uff54\uff53"]


def test_ingest_display_names_resolved(tmp_path: Path) -> None:
    files = class_files({"golden_retriever": 2, "n0001": 2, "cats": 2})
    files["display_names.json"] = json.dumps({"n0001": "tabby cat", "cats": "house cat"}).encode()
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path, display_names={"cats": "cat", "owls": "owl"})
    names = {entry.name: entry.display_name for entry in result.manifest.classes}

    assert names == {"cats": "cat", "golden_retriever": "golden retriever", "n0001": "tabby cat"}
    assert [warning["names"] for warning in result.report["warnings"] if warning["code"] == "unknown_display_names"] == [["owls"]]


def test_ingest_display_names_collide_rejected(tmp_path: Path) -> None:
    files = class_files({"a": 2, "b": 2})
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path, display_names={"a": "Cat", "b": "cat"})
    assert problem_codes(caught) == ["display_names_collide"]


def test_ingest_duplicates_within_class(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3})
    files["cats/copy.jpg"] = files["cats/000.jpg"]
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    duplicate = result.report["duplicates"][0]

    assert result.report["accepted"] == 6
    assert duplicate["kept"] == "cats/000.jpg"
    assert duplicate["across_classes"] is False
    assert result.report["rejected"] == [
        {"path": "cats/copy.jpg", "code": "duplicate", "message": "the same content as cats/000.jpg, which is used instead"}
    ]


def test_ingest_duplicates_across_classes_dropped(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3})
    files["dogs/copy.jpg"] = files["cats/000.jpg"]
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    duplicate = result.report["duplicates"][0]

    assert result.report["accepted"] == 5
    assert duplicate["kept"] is None
    assert duplicate["classes"] == ["cats", "dogs"]
    assert sorted(item["path"] for item in result.report["rejected"]) == ["cats/000.jpg", "dogs/copy.jpg"]
    assert "duplicates_across_classes" in [warning["code"] for warning in result.report["warnings"]]


def test_ingest_duplicate_across_splits_keeps_train(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="train/") | class_files({"cats": 1, "dogs": 1}, prefix="val/", seed=1)
    files["val/cats/leak.jpg"] = files["train/cats/001.jpg"]
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    duplicate = result.report["duplicates"][0]

    assert duplicate["kept"] == "train/cats/001.jpg"
    assert class_counts(result)["cats"] == {"train": 3, "val": 1, "test": 0}


def test_ingest_imbalance_and_few_images_warned(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 45, "dogs": 4}))
    result = ingest(archive, tmp_path)
    warnings = {warning["code"]: warning for warning in result.report["warnings"]}

    assert warnings["class_imbalance"]["largest"] == "cats"
    assert warnings["class_imbalance"]["smallest"] == "dogs"
    assert warnings["few_images"]["class"] == "dogs"


def test_ingest_existing_dataset_dir_rejected(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 2, "dogs": 2}))
    (tmp_path / "dataset").mkdir()
    with pytest.raises(FileExistsError):
        ingest(archive, tmp_path)


def test_ingest_failure_leaves_nothing(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 5}))
    with pytest.raises(DatasetInvalidError):
        ingest(archive, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["upload.zip"]


def test_validate_archive_stores_nothing(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 4, "dogs": 4}))
    result = validate_archive(archive, limits=TEST_LIMITS, val_fraction=0.25)
    assert result.report["accepted"] == 8
    assert sorted(path.name for path in tmp_path.iterdir()) == ["upload.zip"]


def test_validate_matches_ingest_report(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 4, "dogs": 4}) | {"cats/bad.jpg": b""})
    dry_run = validate_archive(archive, limits=TEST_LIMITS, val_fraction=0.25)
    stored = ingest(archive, tmp_path, val_fraction=0.25)
    assert dry_run.report == stored.report


@pytest.mark.parametrize("content", [b"", b"just some text", b"\x1f\x8b\x08\x00garbage", b"7z\xbc\xaf\x27\x1c\x00\x04"])
def test_ingest_not_an_archive(tmp_path: Path, content: bytes) -> None:
    upload = tmp_path / "upload.zip"
    upload.write_bytes(content)
    with pytest.raises(InvalidRequestError) as caught:
        ingest(upload, tmp_path)
    assert caught.value.code == "invalid_archive"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["upload.zip"]


def test_ingest_truncated_zip_invalid(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 3, "dogs": 3}))
    archive.write_bytes(archive.read_bytes()[:-300])
    with pytest.raises(InvalidRequestError) as caught:
        ingest(archive, tmp_path)
    assert caught.value.code == "invalid_archive"


def test_ingest_truncated_tar_gz_invalid(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "upload.tar.gz", class_files({"cats": 3, "dogs": 3}))
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(InvalidRequestError) as caught:
        ingest(archive, tmp_path)
    assert caught.value.code == "invalid_archive"


def test_ingest_macos_utf8_names_without_flag(tmp_path: Path) -> None:
    # Python's zipfile sets the UTF-8 flag on non-ASCII names, so clear it the way macOS tools leave it.
    archive = write_zip(tmp_path / "upload.zip", class_files({"caf\u00e9": 2, "dogs": 2}))
    data = bytearray(archive.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + flag_offset + 1] &= ~0x08
            start += 4
    archive.write_bytes(bytes(data))
    result = ingest(archive, tmp_path)
    assert [entry["name"] for entry in result.report["classes"]] == ["caf\u00e9", "dogs"]


def test_ingest_stored_images_decode_identically(tmp_path: Path) -> None:
    files = class_files({"cats": 2, "dogs": 2})
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    source_paths = result.manifest.extra["source_paths"]
    for item in result.manifest.items:
        stored = decode_image(tmp_path / "dataset" / item.path, max_pixels=TEST_LIMITS.max_image_pixels)
        original = decode_image(files[source_paths[item.path]], max_pixels=TEST_LIMITS.max_image_pixels)
        assert stored.tobytes() == original.tobytes()
        assert (item.width, item.height) == stored.size


def test_ingest_empty_class_folder_rejected(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "upload.zip", class_files({"cats": 2, "dogs": 2}), directories=("owls/",))
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(archive, tmp_path)
    problems = caught.value.details
    assert [problem["code"] for problem in problems] == ["class_without_valid_images"]
    assert problems[0]["class"] == "owls"
    assert "no image files" in problems[0]["message"]
