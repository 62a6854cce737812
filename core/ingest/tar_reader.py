"""Reading tar archives (plain, gzip, bzip2 or xz) entry by entry, with every decompressed byte counted."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Callable

from core.ingest.budget import ExpansionBudget
from core.ingest.errors import format_bytes, invalid_archive
from core.ingest.members import ArchiveMember, MemberKind, MemberStream

# Errors from a damaged or cut-off compressed stream. Once one occurs, nothing after it in
# the tar can be located, so the whole archive is invalid.
_STREAM_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError)

# tarfile reads a pax or GNU long-name header in one call of its declared size. Tar tools
# write headers of a few KiB at most, so a larger read is a header built to exhaust memory.
MAX_SINGLE_READ = 16 * 1024**2
_SKIP_CHUNK = 1024**2

_DECOMPRESSORS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bzip2": lambda raw: bz2.BZ2File(raw, mode="rb"),
    "xz": lambda raw: lzma.LZMAFile(raw, mode="rb"),
    "none": lambda raw: raw,
}


def read_tar(path: Path, compression: str, budget: ExpansionBudget) -> Iterator[ArchiveMember]:
    """Yield the entries of the tar at `path` in stored order, decompressing as they are read."""
    with path.open("rb") as raw, _DECOMPRESSORS[compression](raw) as decompressed:
        stream = CountingTarStream(decompressed, budget)
        try:
            archive = tarfile.open(fileobj=stream, mode="r:")  # type: ignore[call-overload]
        except _STREAM_ERRORS as error:
            raise invalid_archive(f"the tar archive is damaged and cannot be read ({error}); upload it again") from None

        with archive:
            while True:
                info = _next_member(archive, budget)
                if info is None:
                    return
                budget.add_member()
                yield ArchiveMember(name=info.name, kind=_member_kind(info), open=_opener(archive, info))
                # TarFile keeps every header it has read in `members`. Ingest never looks an entry
                # up again, so clearing the list keeps memory flat however many entries follow.
                archive.members.clear()


def _next_member(archive: tarfile.TarFile, budget: ExpansionBudget) -> tarfile.TarInfo | None:
    # The first member is read by tarfile.open itself.
    try:
        return archive.next()
    except _STREAM_ERRORS as error:
        message = f"the tar archive is damaged or cut off after {budget.members} entries ({error}); upload it again"
        raise invalid_archive(message) from None


def _member_kind(info: tarfile.TarInfo) -> MemberKind:
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.ischr() or info.isblk() or info.isfifo():
        return "device"
    if info.isdir():
        return "directory"
    return "file"


def _opener(archive: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], MemberStream]:
    def open_member() -> MemberStream:
        stream = archive.extractfile(info)
        if stream is None:
            raise invalid_archive(f"the tar entry {info.name!r} has no readable content")
        return _TarMemberStream(stream)

    return open_member


class _TarMemberStream:
    """A tar entry stream whose stream errors reject the whole archive."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except _STREAM_ERRORS as error:
            raise invalid_archive(f"the tar archive is damaged or cut off ({error}); upload it again") from None

    def close(self) -> None:
        self._stream.close()


class CountingTarStream(io.RawIOBase):
    """The decompressed tar stream, counting every byte it produces against the budget.

    Forward seeks read through the data, so skipped entries are counted as they are
    decompressed instead of trusting their header sizes. Only the furthest position reached
    counts, so seeking back and reading again is not counted twice.
    """

    def __init__(self, inner: BinaryIO, budget: ExpansionBudget) -> None:
        super().__init__()
        self._inner = inner
        self._budget = budget
        self._position = 0
        self._furthest = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_SINGLE_READ:
            raise invalid_archive(
                f"the tar archive contains a header that declares {format_bytes(size or 0)} of metadata, "
                f"more than the {format_bytes(MAX_SINGLE_READ)} allowed; the archive is damaged or hostile"
            )
        data = self._inner.read(size)
        self._advance(len(data))
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._position + offset}.get(whence)
        if target is None:
            raise io.UnsupportedOperation("seeking from the end of a compressed stream is not supported")
        if target < self._position:
            self._inner.seek(target)
            self._position = target
        while self._position < target:
            chunk = self.read(min(_SKIP_CHUNK, target - self._position))
            if not chunk:
                break  # tarfile notices the missing data on its next read
        return self._position

    def _advance(self, size: int) -> None:
        self._position += size
        if self._position > self._furthest:
            self._budget.add_bytes(self._position - self._furthest)
            self._furthest = self._position
