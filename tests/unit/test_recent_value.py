"""RecentValue: one computation per interval for endpoints anyone may call."""

from __future__ import annotations

from api.recent import RecentValue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_value_is_reused_within_ttl() -> None:
    clock, calls = Clock(), []
    recent = RecentValue(lambda: calls.append(1) or len(calls), 5.0, clock=clock)

    first = recent.get()
    clock.now += 4.9
    second = recent.get()

    assert first == second == 1
    assert len(calls) == 1


def test_value_is_recomputed_after_ttl() -> None:
    clock, calls = Clock(), []
    recent = RecentValue(lambda: calls.append(1) or len(calls), 5.0, clock=clock)

    recent.get()
    clock.now += 5.0

    assert recent.get() == 2
