"""docs/configuration.md lists every setting the service reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_setting_documented(field: str) -> None:
    assert f"`FLYP_{field.upper()}`" in REFERENCE.read_text(), f"add FLYP_{field.upper()} to docs/configuration.md"
