"""A value recomputed at most once per interval (per process), for endpoints that anyone may call often."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RecentValue(Generic[T]):
    """Return the result of `compute`, reusing it for `ttl_seconds` after each computation.

    /readyz and /metrics need no API key, so without this every probe would open a database
    or broker connection. Callers that arrive during a computation wait for it and share it.
    """

    def __init__(self, compute: Callable[[], T], ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._computed_at: float | None = None

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if self._computed_at is None or now - self._computed_at >= self._ttl:
                self._value = self._compute()
                self._computed_at = self._clock()
            return self._value  # type: ignore[return-value]
