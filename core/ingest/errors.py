"""The errors ingest raises; each maps to one HTTP status and one error code."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidRequestError, PayloadTooLargeError

MIB = 1024**2


class DatasetInvalidError(InvalidRequestError):
    """A readable archive whose content cannot be trained on.

    `details` lists each problem as {"code", "message"} plus "class" or "classes" where one
    applies; `report` is the full ingest report, so a failed dataset can store it.
    """

    def __init__(self, problems: list[dict[str, Any]], report: dict[str, Any]) -> None:
        summary = "; ".join(problem["message"] for problem in problems)
        message = f"the dataset cannot be used for training ({len(problems)} problem(s)): {summary}"
        super().__init__("dataset_invalid", message, param="file", details=problems)
        self.report = report


def invalid_archive(message: str) -> InvalidRequestError:
    return InvalidRequestError("invalid_archive", message, param="file")


def unsafe_archive(member: str, reason: str) -> InvalidRequestError:
    message = (
        f"the archive member {member!r} {reason}; such members are never extracted. "
        "Re-create the archive from a plain folder of images"
    )
    return InvalidRequestError("unsafe_archive", message, param="file", details={"member": member})


def archive_too_large(message: str) -> PayloadTooLargeError:
    return PayloadTooLargeError("archive_too_large", message, param="file")


def format_bytes(size: int) -> str:
    """Return `size` as bytes and MiB, the way limit messages state sizes."""
    return f"{size} bytes ({size / MIB:.1f} MiB)"
