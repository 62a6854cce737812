"""API key format, hashing, and the auth setting's resolution."""

from __future__ import annotations

import pydantic
import pytest

from core.apikeys import generate_key, hash_key, key_matches, parse_prefix
from core.settings import Settings


def test_generated_key_parses() -> None:
    key = generate_key()
    assert parse_prefix(key.token) == key.prefix


def test_hash_is_not_key() -> None:
    key = generate_key()
    assert key.token not in key.secret_hash
    assert key.secret_hash == hash_key(key.token)


def test_key_matches_only_itself() -> None:
    first, second = generate_key(), generate_key()
    assert key_matches(first.token, first.secret_hash)
    assert not key_matches(second.token, first.secret_hash)


@pytest.mark.parametrize("token", ["", "flyp", "flyp_0123456789ab", "flyp_0123456789ab_", "sk_0123456789ab_x", "flyp_0123456789AB_x", "flyp_short_x"])
def test_malformed_keys_have_no_prefix(token: str) -> None:
    assert parse_prefix(token) is None


@pytest.mark.parametrize(
    ("values", "enabled"),
    [
        ({}, False),
        ({"database_url": "postgresql://db/flyp"}, True),
        ({"database_url": "postgresql://db/flyp", "auth": "off"}, False),
        ({"auth": "on"}, True),
    ],
)
def test_auth_setting_resolves(values: dict[str, str], enabled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLYP_AUTH", "FLYP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert Settings(**values).auth_enabled is enabled


def test_short_admin_key_rejected() -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        Settings(admin_key="too-short")
    assert "too-short" not in str(error.value)
