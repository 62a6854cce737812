"""Validation of archive member names.

Member names are only ever used as report text and for layout decisions; files are stored
under generated names. The checks still reject every name that would escape a directory if
some tool extracted the archive, because such an archive is either hostile or broken.
"""

from __future__ import annotations

import re
import unicodedata

from core.ingest.errors import unsafe_archive

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")

# Linux's PATH_MAX; no file system stores a longer path, and names are kept in memory per entry.
MAX_NAME_LENGTH = 4096


def member_parts(name: str) -> tuple[str, ...]:
    """Split a member name into safe path components, or raise `unsafe_archive`.

    Backslashes count as separators (some Windows tools write them), so `..\\x` is caught
    like `../x`. Empty and `.` components are dropped. Components are NFC-normalised, because
    macOS stores names in decomposed Unicode and its "café" must name the same class.
    """
    if len(name) > MAX_NAME_LENGTH:
        raise unsafe_archive(name[:200] + "...", f"is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise unsafe_archive(name, "contains a control character")

    slashed = name.replace("\\", "/")
    if slashed.startswith("/"):
        raise unsafe_archive(name, "is an absolute path")
    if _DRIVE_LETTER.match(slashed):
        raise unsafe_archive(name, "starts with a drive letter")

    parts = tuple(part for part in slashed.split("/") if part not in ("", "."))
    if ".." in parts:
        raise unsafe_archive(name, "contains a '..' component")
    return tuple(unicodedata.normalize("NFC", part) for part in parts)


def join_parts(parts: tuple[str, ...]) -> str:
    return "/".join(parts)
