"""Broken, hostile and desktop-made uploads through the real API.

Each input is generated inside the test. The checks are on what `/v1/datasets` returns
(status, error code, report) and on what the service keeps on disk.
"""

from __future__ import annotations

import io
import re
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.manifest import DatasetManifest
from core.store.db import Database
from tests.api.datasets_support import data_dir, error_of, files_under, ingest_area, post_dataset, storage_dir_of
from tests.stack import Stack
from tests.unit.archive_builders import MIB, class_files, photo_bytes, write_zip
from tests.unit.test_images import large_png

MAX_IMAGE_PIXELS = 50_000_000  # the service's default FLYP_MAX_IMAGE_PIXELS, which the shared stack uses


@pytest.fixture(scope="module")
def database(stack: Stack, postgres_url: str) -> Iterator[Database]:
    """The shared stack's database, for reading where a dataset's files are."""
    database = Database(postgres_url)
    yield database
    database.dispose()


def stored_manifest(database: Database, dataset_id: str) -> DatasetManifest:
    storage_dir = storage_dir_of(database, dataset_id)
    assert storage_dir is not None, f"dataset {dataset_id} has no storage directory"
    return DatasetManifest.load(storage_dir)


def rejected_codes(dataset: dict) -> dict[str, str]:
    return {item["path"]: item["code"] for item in dataset["report"]["rejected"]}


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


# Broken files mixed with good ones.


def broken_files() -> dict[str, bytes]:
    good = photo_bytes(7, size=(64, 64))
    return {"cats/cut.jpg": good[: int(len(good) * 0.6)], "cats/empty.jpg": b"", "dogs/notes.png": b"shopping list: milk, eggs\n"}


def test_broken_files_listed_and_dataset_kept(stack: Stack, tmp_path: Path, database: Database) -> None:
    archive = write_zip(tmp_path / "broken.zip", class_files({"cats": 8, "dogs": 8}, seed=21) | broken_files())
    response = post_dataset(stack, archive)
    assert response.status_code == 201, response.text
    dataset = response.json()
    messages = {item["path"]: item["message"] for item in dataset["report"]["rejected"]}

    assert dataset["num_images"] == 16
    assert rejected_codes(dataset) == {"cats/cut.jpg": "truncated", "cats/empty.jpg": "empty", "dogs/notes.png": "not_an_image"}
    assert dataset["report"]["rejected_counts"] == {"empty": 1, "not_an_image": 1, "truncated": 1}
    assert all(messages[path] for path in broken_files())
    assert [sum(entry["counts"].values()) for entry in dataset["classes"]] == [8, 8]

    manifest = stored_manifest(database, dataset["id"])
    assert len(manifest.items) == 16
    assert set(manifest.extra["source_paths"].values()).isdisjoint(broken_files())


def test_class_without_valid_image_422(stack: Stack, tmp_path: Path) -> None:
    before = files_under(*ingest_area(stack))
    files = class_files({"cats": 8}, seed=22) | {"dogs/cut.jpg": broken_files()["cats/cut.jpg"], "dogs/empty.jpg": b""}
    response = post_dataset(stack, write_zip(tmp_path / "broken.zip", files))
    assert response.status_code == 422
    error = error_of(response)

    assert error["code"] == "dataset_invalid"
    assert error["param"] == "file"
    assert [problem["code"] for problem in error["details"]] == ["class_without_valid_images"]
    assert error["details"][0]["class"] == "dogs"
    assert "dogs" in error["message"]
    assert files_under(*ingest_area(stack)) == before


def test_too_few_classes_422(stack: Stack, tmp_path: Path) -> None:
    response = post_dataset(stack, write_zip(tmp_path / "one.zip", class_files({"cats": 5}, seed=23)))
    assert response.status_code == 422
    assert [problem["code"] for problem in error_of(response)["details"]] == ["too_few_classes"]


def test_colliding_class_names_422(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"Golden_Retriever": 3, "golden retriever": 3, "cats": 3}, seed=24)
    response = post_dataset(stack, write_zip(tmp_path / "collide.zip", files))
    assert response.status_code == 422
    problems = error_of(response)["details"]
    assert [problem["code"] for problem in problems] == ["class_names_collide"]
    assert sorted(problems[0]["classes"]) == ["Golden_Retriever", "golden retriever"]


# Decompression bombs.


def test_pixel_bombs_rejected_before_decode(stack: Stack, tmp_path: Path) -> None:
    api_pid = stack.processes[-1].popen.pid
    files = class_files({"cats": 3, "dogs": 3}, seed=25)
    files["cats/huge_1bit.png"] = large_png(20_000, 20_000, bit_depth=1)
    files["dogs/huge.png"] = large_png(10_000, 10_000, bit_depth=8)
    archive = write_zip(tmp_path / "bombs.zip", files)
    Path(f"/proc/{api_pid}/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    baseline_kib = vm_kib(api_pid, "VmRSS")

    response = post_dataset(stack, archive)
    peak_kib = vm_kib(api_pid, "VmHWM")
    assert response.status_code == 201, response.text
    dataset = response.json()
    messages = {item["path"]: item["message"] for item in dataset["report"]["rejected"]}

    assert rejected_codes(dataset) == {"cats/huge_1bit.png": "too_large", "dogs/huge.png": "too_large"}
    assert "20000x20000" in messages["cats/huge_1bit.png"]
    assert "10000x10000" in messages["dogs/huge.png"]
    assert str(MAX_IMAGE_PIXELS) in messages["dogs/huge.png"]
    # Decoding the 1-bit image would take 400 MB (one byte per pixel), as RGB 1.2 GB.
    assert (peak_kib - baseline_kib) * 1024 < 200 * MIB, f"API peak RSS rose by {(peak_kib - baseline_kib) // 1024} MiB"


def test_pixel_bomb_alone_in_class_422(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"cats": 3}, seed=26) | {"dogs/huge.png": large_png(20_000, 20_000, bit_depth=1)}
    response = post_dataset(stack, write_zip(tmp_path / "bomb.zip", files))
    assert response.status_code == 422
    problem = error_of(response)["details"][0]
    assert problem["code"] == "class_without_valid_images"
    assert problem["class"] == "dogs"
    assert "too_large" in problem["message"]


# A file whose extension lies.


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)).convert("P").save(buffer, "GIF")
    return buffer.getvalue()


def test_gif_named_jpg_stored_by_content(stack: Stack, tmp_path: Path, database: Database) -> None:
    files = class_files({"cats": 3, "dogs": 3}, seed=27) | {"cats/really_a_gif.jpg": gif_bytes()}
    response = post_dataset(stack, write_zip(tmp_path / "liar.zip", files))
    assert response.status_code == 201, response.text
    dataset = response.json()
    manifest = stored_manifest(database, dataset["id"])
    stored = {source: path for path, source in manifest.extra["source_paths"].items()}
    stored_file = storage_dir_of(database, dataset["id"]) / stored["cats/really_a_gif.jpg"]

    assert dataset["num_images"] == 7
    assert dataset["report"]["rejected"] == []
    assert stored_file.suffix == ".gif"
    assert stored_file.read_bytes() == gif_bytes()


# Path traversal and links.


def unsafe_zip_members() -> list[str]:
    return ["../../evil.txt", f"/tmp/abs-{uuid.uuid4().hex}.txt", "..\\..\\win.txt", "cats/../../../up.jpg"]


@pytest.mark.parametrize("index", range(4), ids=["dotdot", "absolute", "backslash", "nested_dotdot"])
def test_unsafe_zip_member_422(stack: Stack, tmp_path: Path, index: int) -> None:
    member = unsafe_zip_members()[index]
    upload_dir = tmp_path / "deep" / "er"
    upload_dir.mkdir(parents=True)
    before = files_under(*ingest_area(stack))
    files = class_files({"cats": 2, "dogs": 2}, seed=28) | {member: b"payload"}
    response = post_dataset(stack, write_zip(upload_dir / "unsafe.zip", files))
    assert response.status_code == 422
    error = error_of(response)

    assert error["code"] == "unsafe_archive"
    assert error["details"] == {"member": member}
    assert repr(member) in error["message"]
    assert files_under(*ingest_area(stack)) == before
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["deep", "er", "unsafe.zip"]
    leaf = re.split(r"[\\/]", member)[-1]
    assert list(data_dir(stack).parent.rglob(leaf)) == []
    assert not Path(member).is_absolute() or not Path(member).exists()


def test_unsafe_member_named_first(stack: Stack, tmp_path: Path) -> None:
    files = {"cats/a.jpg": photo_bytes(1), "cats/../../first.txt": b"x", "/second.txt": b"x"}
    response = post_dataset(stack, write_zip(tmp_path / "unsafe.zip", files))
    assert response.status_code == 422
    assert error_of(response)["details"] == {"member": "cats/../../first.txt"}


def test_tar_symlink_422(stack: Stack, tmp_path: Path) -> None:
    before = files_under(*ingest_area(stack))
    path = tmp_path / "link.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in class_files({"cats": 2, "dogs": 2}, seed=29).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("cats/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        archive.addfile(link)
        behind = tarfile.TarInfo("cats/link/passwd")
        behind.size = 10
        archive.addfile(behind, io.BytesIO(b"root:x:0:0"))
    response = post_dataset(stack, path)
    assert response.status_code == 422
    error = error_of(response)

    assert error["code"] == "unsafe_archive"
    assert error["details"] == {"member": "cats/link"}
    assert "symbolic link" in error["message"]
    assert files_under(*ingest_area(stack)) == before


# Archives made by desktop tools.


def test_desktop_clutter_ignored(stack: Stack, tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="My Photos/", seed=30)
    clutter = {
        "My Photos/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "My Photos/cats/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "__MACOSX/My Photos/cats/._000.jpg": b"\x00\x05\x16\x07",
        "__MACOSX/My Photos/._cats": b"\x00\x05\x16\x07",
        "My Photos/dogs/Thumbs.db": b"\xd0\xcf\x11\xe0",
    }
    archive = write_zip(tmp_path / "desktop.zip", files | clutter, directories=("My Photos/", "__MACOSX/"))
    response = post_dataset(stack, archive)
    assert response.status_code == 201, response.text
    report = response.json()["report"]

    assert [entry["name"] for entry in report["classes"]] == ["cats", "dogs"]
    assert report["layout"]["wrappers"] == ["My Photos"]
    assert report["ignored"]["count"] == len(clutter)
    assert report["ignored"]["reasons"] == {"system_file": len(clutter)}
    assert report["rejected"] == []
    assert report["accepted"] == 6
