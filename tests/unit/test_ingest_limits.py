"""Tests of IngestLimits built from the service settings."""

from __future__ import annotations

import pytest

from core.ingest import IngestLimits
from core.settings import Settings


def test_limits_from_settings_copies_values() -> None:
    settings = Settings(max_archive_members=7, max_expanded_bytes=1_000, max_image_pixels=500, max_image_bytes=300)
    limits = IngestLimits.from_settings(settings)

    assert limits.max_members == 7
    assert limits.max_expanded_bytes == 1_000
    assert limits.max_image_pixels == 500
    assert limits.max_member_bytes == 300


def test_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYP_MAX_IMAGE_BYTES", "4096")
    assert IngestLimits.from_settings(Settings()).max_member_bytes == 4096
