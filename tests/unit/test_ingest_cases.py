"""Hostile and messy uploads: broken images, bombs, lying extensions, unsafe paths, desktop clutter.

Every input is generated inside the test; the ants and bees photos are the one real dataset.
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.errors import InvalidRequestError, PayloadTooLargeError
from core.images import decode_image
from core.ingest import DatasetInvalidError, IngestLimits, IngestResult, ingest_archive
from core.ingest import budget as budget_module
from tests.unit.archive_builders import (
    GIB,
    MIB,
    TEST_LIMITS,
    class_files,
    gzip_tar_bomb,
    photo_bytes,
    write_tar,
    write_zip,
    write_zip_bomb,
)
from tests.unit.test_images import large_png

HYMENOPTERA = Path("/work/shared/data/hymenoptera_data")


def ingest(archive: Path, tmp_path: Path, limits: IngestLimits = TEST_LIMITS) -> IngestResult:
    return ingest_archive(archive, tmp_path / "dataset", limits=limits, val_fraction=0.2)


def rejected_codes(result: IngestResult) -> dict[str, str]:
    return {item["path"]: item["code"] for item in result.report["rejected"]}


def leftovers(tmp_path: Path, *expected: str) -> list[str]:
    """Return names in `tmp_path` other than `expected`: temporary or partial dataset directories."""
    return sorted(path.name for path in tmp_path.iterdir() if path.name not in expected)


# Broken files mixed with good ones.


def broken_files() -> dict[str, bytes]:
    good = photo_bytes(7, size=(64, 64))
    return {
        "cats/cut.jpg": good[: int(len(good) * 0.6)],
        "cats/empty.jpg": b"",
        "dogs/notes.png": b"shopping list: milk, eggs\n",
    }


def test_broken_files_rejected_with_reasons(tmp_path: Path) -> None:
    files = class_files({"cats": 8, "dogs": 8}) | broken_files()
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)

    assert result.report["accepted"] == 16
    assert rejected_codes(result) == {"cats/cut.jpg": "truncated", "cats/empty.jpg": "empty", "dogs/notes.png": "not_an_image"}
    assert result.report["rejected_counts"] == {"empty": 1, "not_an_image": 1, "truncated": 1}
    assert result.report["classes"][0]["counts"]["train"] + result.report["classes"][0]["counts"]["val"] == 8


def test_broken_files_never_reach_training(tmp_path: Path) -> None:
    files = class_files({"cats": 8, "dogs": 8}) | broken_files()
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    source_paths = set(result.manifest.extra["source_paths"].values())
    stored_files = list((tmp_path / "dataset" / "images").iterdir())

    assert source_paths.isdisjoint(broken_files())
    assert len(stored_files) == 16
    for path in stored_files:
        assert decode_image(path, max_pixels=TEST_LIMITS.max_image_pixels).mode == "RGB"


def test_class_with_only_broken_files_rejected(tmp_path: Path) -> None:
    files = class_files({"cats": 8}) | {"dogs/cut.jpg": broken_files()["cats/cut.jpg"], "dogs/empty.jpg": b""}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    problem = caught.value.details[0]

    assert caught.value.http_status == 422
    assert problem["code"] == "class_without_valid_images"
    assert problem["class"] == "dogs"
    assert "1 empty, 1 truncated" in problem["message"]
    assert leftovers(tmp_path, "upload.zip") == []


# Decompression bombs.


@pytest.fixture
def loaded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record the size of every image whose pixel data Pillow decodes."""
    sizes: list[tuple[int, int]] = []
    original_load = ImageFile.ImageFile.load

    def recording_load(image: ImageFile.ImageFile):  # noqa: ANN202 - returns what Pillow returns
        sizes.append(image.size)
        return original_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return sizes


def test_pixel_bombs_in_zip_rejected_before_decode(tmp_path: Path, loaded_sizes: list[tuple[int, int]]) -> None:
    files = class_files({"cats": 3, "dogs": 3})
    files["cats/huge_1bit.png"] = large_png(20_000, 20_000, bit_depth=1)
    files["dogs/huge.png"] = large_png(10_000, 10_000, bit_depth=8)
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    messages = {item["path"]: item["message"] for item in result.report["rejected"]}

    assert rejected_codes(result) == {"cats/huge_1bit.png": "too_large", "dogs/huge.png": "too_large"}
    assert "20000x20000" in messages["cats/huge_1bit.png"]
    assert "10000x10000" in messages["dogs/huge.png"]
    assert str(TEST_LIMITS.max_image_pixels) in messages["dogs/huge.png"]
    assert max(width * height for width, height in loaded_sizes) <= TEST_LIMITS.max_image_pixels


def test_pixel_bomb_alone_rejects_class(tmp_path: Path) -> None:
    files = class_files({"cats": 3}) | {"dogs/huge.png": large_png(20_000, 20_000, bit_depth=1)}
    with pytest.raises(DatasetInvalidError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert caught.value.details[0]["class"] == "dogs"
    assert "too_large" in caught.value.details[0]["message"]


# A file whose extension lies.


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)).convert("P").save(buffer, "GIF")
    return buffer.getvalue()


def test_gif_named_jpg_decoded_by_content(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}) | {"cats/really_a_gif.jpg": gif_bytes()}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    stored = {source: stored for stored, source in result.manifest.extra["source_paths"].items()}
    stored_path = tmp_path / "dataset" / stored["cats/really_a_gif.jpg"]

    assert result.report["accepted"] == 7
    assert stored_path.suffix == ".gif"
    assert stored_path.read_bytes() == gif_bytes()


def test_gif_named_jpg_same_pixels_everywhere(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}) | {"cats/really_a_gif.jpg": gif_bytes()}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    stored = {source: stored for stored, source in result.manifest.extra["source_paths"].items()}
    at_ingest = decode_image(tmp_path / "dataset" / stored["cats/really_a_gif.jpg"], max_pixels=TEST_LIMITS.max_image_pixels)
    at_classify = decode_image(gif_bytes(), max_pixels=TEST_LIMITS.max_image_pixels)
    assert np.array_equal(np.asarray(at_ingest), np.asarray(at_classify))


# Path traversal and links.


@pytest.mark.parametrize(
    "member, reason",
    [
        ("../../evil.txt", "'..'"),
        ("/tmp/abs.txt", "absolute"),
        ("..\\..\\win.txt", "'..'"),
        ("cats/../../../up.jpg", "'..'"),
        ("C:/Windows/evil.jpg", "drive letter"),
        ("cats/\x01odd.jpg", "control character"),
    ],
)
def test_unsafe_zip_member_rejected(tmp_path: Path, member: str, reason: str) -> None:
    files = class_files({"cats": 2, "dogs": 2}) | {member: b"payload", "dogs/zz_after.jpg": photo_bytes(99)}
    with pytest.raises(InvalidRequestError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)

    assert caught.value.code == "unsafe_archive"
    assert caught.value.http_status == 422
    assert caught.value.details == {"member": member}
    assert reason in caught.value.message
    assert leftovers(tmp_path, "upload.zip") == []


def test_unsafe_member_writes_nothing_outside(tmp_path: Path) -> None:
    upload_dir = tmp_path / "uploads" / "deep"
    upload_dir.mkdir(parents=True)
    files = class_files({"cats": 2, "dogs": 2}) | {"../../evil.txt": b"payload", "../evil.txt": b"payload"}
    with pytest.raises(InvalidRequestError):
        ingest_archive(write_zip(upload_dir / "upload.zip", files), upload_dir / "dataset", limits=TEST_LIMITS, val_fraction=0.2)
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    assert written == ["uploads", "uploads/deep", "uploads/deep/upload.zip"]


def test_first_unsafe_member_named(tmp_path: Path) -> None:
    files = {"cats/a.jpg": photo_bytes(1), "cats/../../first.txt": b"x", "/second.txt": b"x"}
    with pytest.raises(InvalidRequestError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert "'cats/../../first.txt'" in caught.value.message


def add_tar_entry(archive: tarfile.TarFile, name: str, kind: bytes, *, data: bytes = b"", link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data) if data else None)


def test_tar_symlink_rejected(tmp_path: Path) -> None:
    path = tmp_path / "upload.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in class_files({"cats": 2, "dogs": 2}).items():
            add_tar_entry(archive, name, tarfile.REGTYPE, data=data)
        add_tar_entry(archive, "cats/link", tarfile.SYMTYPE, link="/etc")
        add_tar_entry(archive, "cats/link/passwd", tarfile.REGTYPE, data=b"root:x:0:0")
    with pytest.raises(InvalidRequestError) as caught:
        ingest(path, tmp_path)

    assert caught.value.code == "unsafe_archive"
    assert caught.value.details == {"member": "cats/link"}
    assert "symbolic link" in caught.value.message
    assert leftovers(tmp_path, "upload.tar.gz") == []


@pytest.mark.parametrize(
    "kind, reason", [(tarfile.LNKTYPE, "hard link"), (tarfile.CHRTYPE, "device"), (tarfile.BLKTYPE, "device"), (tarfile.FIFOTYPE, "FIFO")]
)
def test_tar_links_and_devices_rejected(tmp_path: Path, kind: bytes, reason: str) -> None:
    path = tmp_path / "upload.tar"
    with tarfile.open(path, "w") as archive:
        add_tar_entry(archive, "cats/a.jpg", tarfile.REGTYPE, data=photo_bytes(1))
        add_tar_entry(archive, "cats/special", kind, link="cats/a.jpg" if kind == tarfile.LNKTYPE else "")
    with pytest.raises(InvalidRequestError) as caught:
        ingest(path, tmp_path)
    assert caught.value.code == "unsafe_archive"
    assert reason in caught.value.message


def test_zip_symlink_rejected(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "upload.zip", class_files({"cats": 2, "dogs": 2}))
    with zipfile.ZipFile(path, "a") as archive:
        info = zipfile.ZipInfo("cats/link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidRequestError) as caught:
        ingest(path, tmp_path)
    assert caught.value.details == {"member": "cats/link"}


# Archive bombs.


@pytest.fixture
def budget_peak(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the decompressed byte count each time a reader adds to it."""
    totals: list[int] = []
    original = budget_module.ExpansionBudget.add_bytes

    def recording_add_bytes(self: budget_module.ExpansionBudget, size: int) -> None:
        totals.append(self.expanded_bytes + size)
        original(self, size)

    monkeypatch.setattr(budget_module.ExpansionBudget, "add_bytes", recording_add_bytes)
    return totals


BOMB_LIMITS = IngestLimits(max_members=10_000, max_expanded_bytes=64 * MIB, max_image_pixels=50_000_000, max_member_bytes=4 * GIB)


def test_zip_zero_bomb_stops_at_limit(tmp_path: Path, budget_peak: list[int]) -> None:
    path = write_zip_bomb(tmp_path / "upload.zip", "cats/zeros.jpg", 2 * GIB)
    with pytest.raises(PayloadTooLargeError) as caught:
        ingest(path, tmp_path, BOMB_LIMITS)

    assert path.stat().st_size < 4 * MIB
    assert caught.value.code == "archive_too_large"
    assert caught.value.http_status == 413
    assert str(BOMB_LIMITS.max_expanded_bytes) in caught.value.message
    assert max(budget_peak) <= BOMB_LIMITS.max_expanded_bytes + MIB
    assert leftovers(tmp_path, "upload.zip") == []


def test_tar_gz_zero_bomb_stops_at_limit(tmp_path: Path, budget_peak: list[int]) -> None:
    path = gzip_tar_bomb(tmp_path / "upload.tar.gz", "cats/zeros.jpg", 2 * GIB, extra_files={"cats/a.jpg": photo_bytes(1)})
    with pytest.raises(PayloadTooLargeError) as caught:
        ingest(path, tmp_path, BOMB_LIMITS)
    assert caught.value.code == "archive_too_large"
    assert max(budget_peak) <= BOMB_LIMITS.max_expanded_bytes + MIB


def test_tar_gz_skipped_entry_still_counted(tmp_path: Path, budget_peak: list[int]) -> None:
    # A system file is never read, but skipping it still decompresses it.
    path = gzip_tar_bomb(tmp_path / "upload.tar.gz", "cats/.DS_Store", 2 * GIB)
    with pytest.raises(PayloadTooLargeError):
        ingest(path, tmp_path, BOMB_LIMITS)
    assert max(budget_peak) <= BOMB_LIMITS.max_expanded_bytes + MIB


def test_oversized_single_file_rejected_alone(tmp_path: Path, budget_peak: list[int]) -> None:
    limits = IngestLimits(max_members=10_000, max_expanded_bytes=GIB, max_image_pixels=50_000_000, max_member_bytes=8 * MIB)
    path = write_zip_bomb(tmp_path / "bomb.zip", "cats/zeros.jpg", 2 * GIB)
    files = class_files({"cats": 2, "dogs": 2})
    with zipfile.ZipFile(path) as bomb, zipfile.ZipFile(tmp_path / "upload.zip", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        with bomb.open("cats/zeros.jpg") as zeros, archive.open("cats/zeros.jpg", "w", force_zip64=True) as target:
            target.write(zeros.read(32 * MIB))
    result = ingest(tmp_path / "upload.zip", tmp_path, limits)

    assert rejected_codes(result) == {"cats/zeros.jpg": "too_large"}
    assert max(budget_peak) <= 10 * MIB


def many_entries_zip(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"cats/{index}.txt", b"")
    return path


def test_zip_with_50000_entries_rejected(tmp_path: Path) -> None:
    path = many_entries_zip(tmp_path / "upload.zip", 50_000)
    with pytest.raises(PayloadTooLargeError) as caught:
        ingest(path, tmp_path)
    assert caught.value.code == "archive_too_large"
    assert str(TEST_LIMITS.max_members) in caught.value.message


def test_zip_lying_entry_count_still_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = many_entries_zip(tmp_path / "upload.zip", 12_000)
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # entries on this disk, entries in total
    path.write_bytes(bytes(data))
    parsed: list[int] = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: parsed.append(1))
    with pytest.raises(PayloadTooLargeError):
        ingest(path, tmp_path)
    assert parsed == []


def test_tar_with_many_entries_rejected(tmp_path: Path) -> None:
    limits = IngestLimits(max_members=500, max_expanded_bytes=GIB, max_image_pixels=50_000_000)
    files = {f"cats/{index}.txt": b"" for index in range(2_000)}
    with pytest.raises(PayloadTooLargeError) as caught:
        ingest(write_tar(tmp_path / "upload.tar.gz", files), tmp_path, limits)
    assert "500" in caught.value.message


def nested_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/a.jpg", photo_bytes(50))
    return buffer.getvalue()


def test_nested_archives_skipped_with_warning(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}) | {"cats/more.zip": nested_zip_bytes(), "dogs/photo.jpg": nested_zip_bytes()}
    result = ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    warnings = {warning["code"]: warning for warning in result.report["warnings"]}

    assert result.report["skipped_archives"] == ["cats/more.zip", "dogs/photo.jpg"]
    assert warnings["nested_archives_skipped"]["count"] == 2
    assert result.report["rejected"] == []
    assert result.report["accepted"] == 6


# Archives made by desktop tools.


def test_desktop_clutter_ignored_and_counted(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="My Photos/")
    clutter = {
        "My Photos/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "My Photos/cats/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "__MACOSX/My Photos/cats/._000.jpg": b"\x00\x05\x16\x07",
        "__MACOSX/My Photos/._cats": b"\x00\x05\x16\x07",
        "My Photos/dogs/Thumbs.db": b"\xd0\xcf\x11\xe0",
        "My Photos/desktop.ini": b"[.ShellClassInfo]",
    }
    archive = write_zip(tmp_path / "upload.zip", files | clutter, directories=("My Photos/", "__MACOSX/", "My Photos/cats/"))
    result = ingest(archive, tmp_path)

    assert [entry["name"] for entry in result.report["classes"]] == ["cats", "dogs"]
    assert result.report["layout"]["wrappers"] == ["My Photos"]
    assert result.report["ignored"]["count"] == len(clutter)
    assert result.report["ignored"]["reasons"] == {"system_file": len(clutter)}
    assert result.report["rejected"] == []
    assert result.report["accepted"] == 6


def test_desktop_clutter_tar_gz(tmp_path: Path) -> None:
    files = class_files({"cats": 3, "dogs": 3}, prefix="./export/") | {"./export/cats/._000.jpg": b"\x00\x05\x16\x07", "./export/.DS_Store": b"x"}
    result = ingest(write_tar(tmp_path / "upload.tgz", files), tmp_path)
    assert [entry["name"] for entry in result.report["classes"]] == ["cats", "dogs"]
    assert result.report["ignored"]["count"] == 2


# The real ants and bees photos.


@pytest.fixture(scope="module")
def hymenoptera_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hymenoptera") / "hymenoptera_data.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(HYMENOPTERA.rglob("*")):
            if file.is_file():
                archive.write(file, f"hymenoptera_data/{file.relative_to(HYMENOPTERA)}")
    return path


@pytest.fixture(scope="module")
def hymenoptera_result(tmp_path_factory: pytest.TempPathFactory, hymenoptera_zip: Path) -> IngestResult:
    return ingest(hymenoptera_zip, tmp_path_factory.mktemp("hymenoptera_dataset"))


def test_real_ants_and_bees_ingested(hymenoptera_result: IngestResult) -> None:
    counts = {entry["name"]: entry["counts"] for entry in hymenoptera_result.report["classes"]}

    for class_name in ("ants", "bees"):
        for split in ("train", "val"):
            on_disk = len(list((HYMENOPTERA / split / class_name).iterdir()))
            assert counts[class_name][split] == on_disk, f"{split}/{class_name}"
    assert hymenoptera_result.report["split"]["source"] == "folders"
    assert hymenoptera_result.report["layout"]["wrappers"] == ["hymenoptera_data"]
    assert hymenoptera_result.report["rejected"] == []


def test_real_placeholder_gif_flagged(hymenoptera_result: IngestResult) -> None:
    report = hymenoptera_result.report
    warnings = {warning["code"]: warning for warning in report["warnings"]}
    placeholder = "hymenoptera_data/train/ants/imageNotFound.gif"

    assert [item["path"] for item in report["flagged"]] == [placeholder]
    assert warnings["suspected_placeholder"]["paths"] == [placeholder]
    assert [item["source_path"] for item in hymenoptera_result.manifest.extra["flagged"]] == [placeholder]


def test_zip_huge_central_directory_rejected(tmp_path: Path) -> None:
    limits = IngestLimits(max_members=100, max_expanded_bytes=GIB, max_image_pixels=50_000_000)
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(50):
            info = zipfile.ZipInfo(f"cats/{index}.jpg")
            info.comment = b"c" * 4000
            archive.writestr(info, photo_bytes(index))
    with pytest.raises(PayloadTooLargeError) as caught:
        ingest(path, tmp_path, limits)
    assert "central directory" in caught.value.message


def test_overlong_member_name_rejected(tmp_path: Path) -> None:
    files = class_files({"cats": 2, "dogs": 2}) | {"cats/" + "a" * 5000 + ".jpg": photo_bytes(5)}
    with pytest.raises(InvalidRequestError) as caught:
        ingest(write_zip(tmp_path / "upload.zip", files), tmp_path)
    assert caught.value.code == "unsafe_archive"
    assert "longer than 4096" in caught.value.message
