"""Detection of the upload's archive format from its content, and the matching reader."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from core.ingest.budget import ExpansionBudget
from core.ingest.errors import invalid_archive
from core.ingest.members import ArchiveMember
from core.ingest.tar_reader import read_tar
from core.ingest.zip_reader import read_zip

_COMPRESSION_SIGNATURES = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_UNSUPPORTED_SIGNATURES = (
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\x28\xb5\x2f\xfd", "Zstandard"),
)
_TAR_MAGIC_OFFSET = 257
_HEAD_SIZE = 512
SUPPORTED_TEXT = "a .zip, .tar, .tar.gz (.tgz), .tar.bz2 or .tar.xz file"


def detect_format(path: Path) -> tuple[str, str]:
    """Return (archive format, compression) for the file at `path`, or raise `invalid_archive`."""
    with path.open("rb") as handle:
        head = handle.read(_HEAD_SIZE)
    if not head:
        raise invalid_archive(f"the upload is empty (0 bytes); upload {SUPPORTED_TEXT}")

    if head.startswith(b"PK"):
        return "zip", "deflate"
    for signature, compression in _COMPRESSION_SIGNATURES:
        if head.startswith(signature):
            return "tar", compression
    if head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar" or tarfile.is_tarfile(path):
        return "tar", "none"
    if zipfile.is_zipfile(path):
        return "zip", "deflate"  # a zip with data before it, such as a self-extracting archive

    for signature, name in _UNSUPPORTED_SIGNATURES:
        if head.startswith(signature):
            raise invalid_archive(f"{name} archives are not supported; upload {SUPPORTED_TEXT}")
    raise invalid_archive(f"the upload is not a zip or tar archive; upload {SUPPORTED_TEXT}")


def read_archive(path: Path, budget: ExpansionBudget) -> tuple[str, Iterator[ArchiveMember]]:
    """Return the archive's format and an iterator over its entries."""
    archive_format, compression = detect_format(path)
    if archive_format == "zip":
        return archive_format, read_zip(path, budget)
    return archive_format, read_tar(path, compression, budget)


def is_archive_content(head: bytes) -> bool:
    """Tell whether the first bytes of a file are those of an archive or compressed stream."""
    signatures = [b"PK\x03\x04", b"PK\x05\x06"] + [signature for signature, _ in _COMPRESSION_SIGNATURES]
    signatures += [signature for signature, _ in _UNSUPPORTED_SIGNATURES]
    if any(head.startswith(signature) for signature in signatures):
        return True
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar"


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".tbz", ".tbz2", ".bz2", ".txz", ".xz", ".7z", ".rar", ".zst")


def has_archive_suffix(name: str) -> bool:
    return name.casefold().endswith(ARCHIVE_SUFFIXES)
