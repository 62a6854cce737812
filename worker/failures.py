"""Codes and messages for the training failures that a user can act on."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from core.errors import ServiceError

OUT_OF_MEMORY = "out_of_memory"
TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
INTERNAL_ERROR = "internal_error"


def describe_failure(error: BaseException, *, time_limit: int) -> tuple[str, str] | None:
    """Return (code, message) for a failure the user can act on, or None for an unexpected one."""
    if isinstance(error, ServiceError):
        return error.code, error.message
    if _is_out_of_memory(error):
        return OUT_OF_MEMORY, "Training ran out of memory; use a smaller batch_size or a smaller model."
    if isinstance(error, SoftTimeLimitExceeded):
        return (
            TIME_LIMIT_EXCEEDED,
            f"Training ran longer than this service's limit of {time_limit} s per attempt (FLYP_JOB_TIME_LIMIT); "
            "use fewer epochs or a smaller dataset, or ask the operator to raise the limit.",
        )
    return None


def internal_error_message(job_id: str) -> str:
    return f"Training failed with an unexpected error; the worker log has the details for job {job_id}."


def _is_out_of_memory(error: BaseException) -> bool:
    # torch.cuda.OutOfMemoryError (torch.OutOfMemoryError since 2.5) is matched by name so
    # this module does not import torch.
    return isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"
