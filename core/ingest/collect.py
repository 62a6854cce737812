"""The single pass over an archive: validate each entry and stage real files on disk.

Staged files get generated names inside the staging directory. Nothing is decoded here,
because with a tar archive the layout, and even a label manifest, is only known at the end.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from core.ingest.archive_format import has_archive_suffix, is_archive_content, read_archive
from core.ingest.budget import ExpansionBudget
from core.ingest.errors import format_bytes, unsafe_archive
from core.ingest.limits import IngestLimits
from core.ingest.member_paths import join_parts, member_parts
from core.ingest.members import UNSAFE_KIND_REASONS, ArchiveMember, MemberReadError, MemberStream
from core.ingest.system_files import is_system_folder, system_file_reason

logger = logging.getLogger(__name__)

_CHUNK_SIZE = 1024**2
_HEAD_SIZE = 512


@dataclass(frozen=True)
class StagedFile:
    """A regular file copied out of the archive under a generated name."""

    parts: tuple[str, ...]
    path: Path
    size: int
    sha256: str

    @property
    def member(self) -> str:
        return join_parts(self.parts)


@dataclass(frozen=True)
class Rejection:
    path: str
    code: str
    message: str


@dataclass
class CollectedArchive:
    """Everything the pass found, before any layout decision."""

    format: str
    files: list[StagedFile] = field(default_factory=list)
    directories: set[tuple[str, ...]] = field(default_factory=set)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    rejected: list[Rejection] = field(default_factory=list)
    skipped_archives: list[str] = field(default_factory=list)
    members: int = 0
    expanded_bytes: int = 0


class _FileTooLarge(Exception):
    pass


def collect_archive(archive_path: Path, staging_dir: Path, limits: IngestLimits) -> CollectedArchive:
    """Read every entry of the archive once, staging regular files into `staging_dir`.

    Raises `unsafe_archive` at the first entry with an unsafe name or kind, and
    `archive_too_large` as soon as the entry count or the decompressed size passes a limit.
    """
    staging_dir.mkdir(parents=True, exist_ok=True)
    budget = ExpansionBudget(limits)
    archive_format, members = read_archive(archive_path, budget)
    collected = CollectedArchive(format=archive_format)
    seen: set[tuple[str, ...]] = set()

    for member in members:
        _collect_member(member, collected, seen, staging_dir, limits)

    collected.members = budget.members
    collected.expanded_bytes = budget.expanded_bytes
    logger.info(
        "archive.collected path=%s format=%s members=%d expanded_bytes=%d staged=%d",
        archive_path,
        archive_format,
        collected.members,
        collected.expanded_bytes,
        len(collected.files),
    )
    return collected


def _collect_member(
    member: ArchiveMember,
    collected: CollectedArchive,
    seen: set[tuple[str, ...]],
    staging_dir: Path,
    limits: IngestLimits,
) -> None:
    parts = member_parts(member.name)
    if member.kind in UNSAFE_KIND_REASONS:
        raise unsafe_archive(member.name, UNSAFE_KIND_REASONS[member.kind])
    if not parts:
        return  # the archive's root folder, such as "./"

    if member.kind == "directory":
        if not is_system_folder(parts):
            collected.directories.add(parts)
        return

    path = join_parts(parts)
    reason = system_file_reason(parts)
    if reason is not None:
        collected.ignored.append((path, reason))
        return
    if has_archive_suffix(parts[-1]):
        collected.skipped_archives.append(path)
        return
    if parts in seen:
        message = "the archive contains this path more than once; only the first copy is used"
        collected.rejected.append(Rejection(path, "duplicate_path", message))
        return
    seen.add(parts)

    staged = _stage_member(member, parts, staging_dir / str(len(seen)), limits, collected)
    if staged is not None:
        collected.files.append(staged)


def _stage_member(
    member: ArchiveMember,
    parts: tuple[str, ...],
    target: Path,
    limits: IngestLimits,
    collected: CollectedArchive,
) -> StagedFile | None:
    path = join_parts(parts)
    try:
        size, digest, head = _copy_bounded(member.open(), target, limits.max_member_bytes)
    except _FileTooLarge:
        target.unlink(missing_ok=True)
        message = (
            f"the file is larger than {format_bytes(limits.max_member_bytes)} once decompressed, "
            "the limit for one image; downscale or remove it"
        )
        collected.rejected.append(Rejection(path, "too_large", message))
        return None
    except MemberReadError as error:
        target.unlink(missing_ok=True)
        collected.rejected.append(Rejection(path, error.code, error.message))
        return None

    if is_archive_content(head):
        target.unlink()
        collected.skipped_archives.append(path)
        return None
    return StagedFile(parts=parts, path=target, size=size, sha256=digest)


def _copy_bounded(stream: MemberStream, target: Path, max_bytes: int) -> tuple[int, str, bytes]:
    """Copy `stream` to `target` in chunks; return (size, sha256, first bytes).

    Stops reading, and raises _FileTooLarge, as soon as more than `max_bytes` arrive, so the
    rest of an oversized entry is never decompressed.
    """
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with target.open("wb") as output:
            while chunk := stream.read(_CHUNK_SIZE):
                size += len(chunk)
                if size > max_bytes:
                    raise _FileTooLarge
                if len(head) < _HEAD_SIZE:
                    head += chunk[: _HEAD_SIZE - len(head)]
                digest.update(chunk)
                output.write(chunk)
    finally:
        stream.close()
    return size, digest.hexdigest(), head
