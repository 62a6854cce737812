"""The warmup-then-cosine learning-rate schedule."""

from __future__ import annotations

import math

import pytest

from core.training.schedule import learning_rate_at

BASE_LR = 1e-3
WARMUP = 10
TOTAL = 110
MIN_LR = 1e-5


def rate(step: int) -> float:
    return learning_rate_at(step, base_lr=BASE_LR, warmup_steps=WARMUP, total_steps=TOTAL, min_lr=MIN_LR)


def test_schedule_first_step_is_base_over_warmup() -> None:
    assert rate(0) == pytest.approx(BASE_LR / WARMUP)


def test_schedule_last_warmup_step_reaches_base() -> None:
    assert rate(WARMUP - 1) == pytest.approx(BASE_LR)


def test_schedule_cosine_start_adds_min_lr() -> None:
    assert rate(WARMUP) == pytest.approx(BASE_LR + MIN_LR)


def test_schedule_midpoint_is_half_base() -> None:
    assert rate(WARMUP + (TOTAL - WARMUP) // 2) == pytest.approx(0.5 * BASE_LR + MIN_LR)


def test_schedule_last_step() -> None:
    last = TOTAL - 1
    expected = 0.5 * (1 + math.cos(math.pi * (last - WARMUP) / (TOTAL - WARMUP))) * BASE_LR + MIN_LR
    assert rate(last) == pytest.approx(expected)


def test_schedule_without_warmup_starts_at_base() -> None:
    assert learning_rate_at(0, base_lr=BASE_LR, warmup_steps=0, total_steps=5, min_lr=0.0) == pytest.approx(BASE_LR)
