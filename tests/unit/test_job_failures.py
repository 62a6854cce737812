"""The code and message each training failure gives the job."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from core.errors import TrainingError
from worker.failures import describe_failure


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which the worker matches by name."""


def test_engine_error_keeps_code() -> None:
    error = TrainingError("non_finite_loss", "the loss was nan at step 7")
    assert describe_failure(error, time_limit=0) == ("non_finite_loss", "the loss was nan at step 7")


def test_cuda_out_of_memory() -> None:
    code, message = describe_failure(OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), time_limit=0)
    assert code == "out_of_memory"
    assert "batch_size" in message


def test_host_out_of_memory() -> None:
    assert describe_failure(MemoryError(), time_limit=0)[0] == "out_of_memory"


def test_soft_time_limit_names_limit() -> None:
    code, message = describe_failure(SoftTimeLimitExceeded(), time_limit=3600)
    assert code == "time_limit_exceeded"
    assert "3600 s" in message


def test_unexpected_error_undescribed() -> None:
    assert describe_failure(KeyError("weights"), time_limit=0) is None
