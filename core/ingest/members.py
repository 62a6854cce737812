"""The common view of an archive entry that every archive reader yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

MemberKind = Literal["file", "directory", "symlink", "hardlink", "device"]

# Kinds that make the whole archive unsafe: extracting them can write or read outside the
# target directory, or block on a device.
UNSAFE_KIND_REASONS: dict[str, str] = {
    "symlink": "is a symbolic link",
    "hardlink": "is a hard link",
    "device": "is a device file or FIFO",
}


class MemberStream(Protocol):
    """The decompressed content of one entry."""

    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ArchiveMember:
    """One entry. `open` returns its decompressed content and is valid until the next entry."""

    name: str
    kind: MemberKind
    open: Callable[[], MemberStream]


class MemberReadError(Exception):
    """One entry that cannot be read while the rest of the archive can, with a reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
