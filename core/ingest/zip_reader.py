"""Reading zip archives entry by entry, with every decompressed byte counted."""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Callable

from core.ingest.budget import ExpansionBudget
from core.ingest.errors import archive_too_large, format_bytes, invalid_archive
from core.ingest.members import ArchiveMember, MemberKind, MemberReadError, MemberStream
from core.ingest.zip_directory import scan_central_directory

_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_DOS_DIRECTORY_ATTRIBUTE = 0x10
_DEVICE_TYPES = (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)
_CORRUPT_ENTRY_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)

# Central directory bytes allowed per permitted entry. A record is 46 bytes plus its name,
# extra field and comment; 1 KiB is an estimate well above what archiving tools write for
# real paths, and it keeps zipfile's in-memory copy of the directory bounded.
DIRECTORY_BYTES_PER_ENTRY = 1024


def read_zip(path: Path, budget: ExpansionBudget) -> Iterator[ArchiveMember]:
    """Yield the entries of the zip at `path` in directory order."""
    try:
        records, directory_size = scan_central_directory(path, stop_after=budget.limits.max_members)
    except ValueError:
        raise invalid_archive("the zip file has no central directory; it is damaged or cut off, upload it again") from None
    budget.check_member_count(records)
    max_directory_size = budget.limits.max_members * DIRECTORY_BYTES_PER_ENTRY
    if directory_size > max_directory_size:
        raise archive_too_large(
            f"the zip's central directory is {format_bytes(directory_size)}, more than the "
            f"{format_bytes(max_directory_size)} allowed; the archive has too many entries or overlong names"
        )

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise invalid_archive(f"the zip file is damaged and cannot be read ({error}); upload it again") from None

    with archive:
        for info in archive.infolist():
            budget.add_member()
            yield ArchiveMember(name=_member_name(info), kind=_member_kind(info), open=_opener(archive, info, budget))


def _member_name(info: zipfile.ZipInfo) -> str:
    """Return the entry name, recovering UTF-8 names that lack the UTF-8 flag.

    Without the flag, zipfile decodes names as code page 437. macOS Archive Utility and
    many other tools write UTF-8 without setting it, which would garble "café" as "cafΘ".
    """
    if info.flag_bits & _UTF8_NAME_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _member_kind(info: zipfile.ZipInfo) -> MemberKind:
    mode = info.external_attr >> 16
    file_type = stat.S_IFMT(mode)
    if file_type == stat.S_IFLNK:
        return "symlink"
    if file_type in _DEVICE_TYPES:
        return "device"
    is_directory = info.filename.endswith(("/", "\\")) or file_type == stat.S_IFDIR
    if is_directory or (info.external_attr & _DOS_DIRECTORY_ATTRIBUTE and info.file_size == 0):
        return "directory"
    return "file"


def _opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: ExpansionBudget) -> Callable[[], MemberStream]:
    def open_member() -> MemberStream:
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise MemberReadError("encrypted", "the file is encrypted; upload an archive made without a password")
        try:
            stream = archive.open(info)
        except NotImplementedError:
            message = (
                f"the file is compressed with zip method {info.compress_type}, which is not supported; "
                "re-create the archive with the standard Deflate method"
            )
            raise MemberReadError("unreadable", message) from None
        except _CORRUPT_ENTRY_ERRORS as error:
            raise MemberReadError("unreadable", f"the archive entry is damaged: {error}") from None
        return _CountingZipStream(stream, budget)

    return open_member


class _CountingZipStream:
    """A zip entry stream that counts what it decompresses and reports damage per entry."""

    def __init__(self, stream: BinaryIO, budget: ExpansionBudget) -> None:
        self._stream = stream
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except _CORRUPT_ENTRY_ERRORS as error:
            raise MemberReadError("unreadable", f"the archive entry is damaged: {error}") from None
        self._budget.add_bytes(len(data))
        return data

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> "_CountingZipStream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
