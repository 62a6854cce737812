"""Per-key request rate limits with the generic cell rate algorithm (GCRA).

A limit of N requests per period allows a burst of N, then one request every period / N.
The only state per key is the theoretical arrival time (TAT) of the next request: a request
at time `now` is allowed when `max(TAT, now) + interval - period <= now`, and then moves TAT
on by one interval. Two backends share that rule: Redis, so every API process of a
deployment counts together, and process memory for the embedded default.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed; 0 when allowed

    @property
    def retry_after_seconds(self) -> int:
        """Retry-After as whole seconds, rounded up so a client that waits that long succeeds."""
        return max(1, math.ceil(self.retry_after))


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, period: float) -> Decision: ...

    def close(self) -> None: ...


def gcra_step(tat: float | None, now: float, *, limit: int, period: float) -> tuple[Decision, float | None]:
    """Apply one request to the state `tat`; return the decision and the new state."""
    interval = period / limit
    start = now if tat is None else max(tat, now)
    new_tat = start + interval
    allowed_at = new_tat - period
    if allowed_at > now:
        return Decision(False, allowed_at - now), tat
    return Decision(True, 0.0), new_tat


class MemoryRateLimiter:
    """Counts in this process only: with several API processes each allows the full rate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}

    def hit(self, key: str, *, limit: int, period: float) -> Decision:
        with self._lock:
            now = self._clock()
            decision, tat = gcra_step(self._tats.get(key), now, limit=limit, period=period)
            if tat is not None:
                self._tats[key] = tat
            self._forget_idle(now)
            return decision

    def _forget_idle(self, now: float) -> None:
        # A key whose TAT has passed is back at a full burst, the same as a key never seen.
        if len(self._tats) > 10_000:
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}

    def close(self) -> None:
        self._tats.clear()


# The same rule as gcra_step, run atomically in Redis on the server's clock, so API processes
# on machines with skewed clocks still share one limit. Returns {allowed, retry_after_ms}.
_GCRA_SCRIPT = """
local period_ms = tonumber(ARGV[1])
local interval_ms = period_ms / tonumber(ARGV[2])
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now_ms then tat = now_ms end
local new_tat = tat + interval_ms
local allowed_at = new_tat - period_ms
if allowed_at > now_ms then
  return {0, math.ceil(allowed_at - now_ms)}
end
redis.call('SET', KEYS[1], string.format('%d', math.ceil(new_tat)), 'PX', math.ceil(new_tat - now_ms))
return {1, 0}
"""


class RedisRateLimiter:
    """Counts in Redis, shared by every API process that uses the same Redis and key prefix."""

    def __init__(self, url: str, *, key_prefix: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._client.register_script(_GCRA_SCRIPT)
        self._key_prefix = key_prefix

    def hit(self, key: str, *, limit: int, period: float) -> Decision:
        allowed, retry_after_ms = self._script(keys=[f"{self._key_prefix}{key}"], args=[int(period * 1000), limit])
        return Decision(bool(allowed), int(retry_after_ms) / 1000)

    def close(self) -> None:
        self._client.close()
