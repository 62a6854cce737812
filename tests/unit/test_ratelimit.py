"""The classify rate limiter: the GCRA rule, in memory with a fake clock and in a real Redis."""

from __future__ import annotations

import uuid

import pytest

from core.ratelimit import MemoryRateLimiter, RedisRateLimiter, gcra_step


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gcra_burst_then_reject() -> None:
    tat = None
    for _ in range(3):
        decision, tat = gcra_step(tat, 0.0, limit=3, period=60.0)
        assert decision.allowed
    decision, _ = gcra_step(tat, 0.0, limit=3, period=60.0)
    assert not decision.allowed
    assert decision.retry_after == pytest.approx(20.0)


def test_memory_limiter_refills_one_interval() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)
    assert all(limiter.hit("t", limit=2, period=60).allowed for _ in range(2))
    refused = limiter.hit("t", limit=2, period=60)
    assert not refused.allowed
    clock.now += refused.retry_after
    assert limiter.hit("t", limit=2, period=60).allowed
    assert not limiter.hit("t", limit=2, period=60).allowed


def test_memory_limiter_keys_independent() -> None:
    limiter = MemoryRateLimiter(FakeClock())
    assert limiter.hit("a", limit=1, period=60).allowed
    assert not limiter.hit("a", limit=1, period=60).allowed
    assert limiter.hit("b", limit=1, period=60).allowed


def test_retry_after_rounds_up() -> None:
    _, tat = gcra_step(None, 0.0, limit=1, period=0.5)
    decision, _ = gcra_step(tat, 0.0, limit=1, period=0.5)
    assert decision.retry_after_seconds == 1


def test_redis_limiter_burst_then_reject(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, key_prefix=f"flyp-test-{uuid.uuid4().hex}:")
    try:
        decisions = [limiter.hit("t", limit=4, period=60) for _ in range(5)]
        other = limiter.hit("u", limit=4, period=60)
    finally:
        limiter.close()
    assert [decision.allowed for decision in decisions] == [True] * 4 + [False]
    assert 0 < decisions[-1].retry_after <= 15
    assert other.allowed


def test_redis_limiter_expires_key(redis_url: str) -> None:
    import redis

    prefix = f"flyp-test-{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(redis_url, key_prefix=prefix)
    try:
        limiter.hit("t", limit=4, period=60)
    finally:
        limiter.close()
    client = redis.Redis.from_url(redis_url)
    ttl_ms = client.pttl(f"{prefix}t")
    client.delete(f"{prefix}t")
    client.close()
    assert 0 < ttl_ms <= 15_000
