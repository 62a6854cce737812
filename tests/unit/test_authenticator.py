"""Authenticator on a migrated SQLite database: keys, revocation, the admin key and the start-up log."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import ANONYMOUS, AuthError, Authenticator
from core.settings import Settings
from core.store import tenants as tenant_store
from core.store.db import Database
from core.store.migrate import upgrade

ADMIN_KEY = secrets.token_urlsafe(32)


@pytest.fixture()
def database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'flyp.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def make_key(database: Database, tenant_name: str) -> tuple[str, str, str]:
    """Return (key, key id, tenant id) of a new key."""
    with database.session() as session:
        tenant = tenant_store.ensure_tenant(session, tenant_name)
        row, new_key = tenant_store.create_key(session, tenant)
        return new_key.token, row.id, tenant.id


def authenticator(database: Database, **settings: object) -> Authenticator:
    return Authenticator(Settings(auth="on", **settings), database)


def test_valid_key_names_tenant(database: Database) -> None:
    token, key_id, tenant_id = make_key(database, "acme")
    principal = authenticator(database).authenticate(f"Bearer {token}", None)
    assert principal.tenant_id == tenant_id
    assert principal.key_id == key_id


def test_revoked_key_rejected(database: Database) -> None:
    token, key_id, _ = make_key(database, "acme")
    with database.session() as session:
        tenant_store.revoke_key(session, key_id)
    with pytest.raises(AuthError) as error:
        authenticator(database).authenticate(f"Bearer {token}", None)
    assert error.value.status == 401
    assert error.value.code == "api_key_revoked"


def test_second_key_same_tenant(database: Database) -> None:
    _, _, tenant_id = make_key(database, "acme")
    token, _, second_tenant_id = make_key(database, "acme")
    assert second_tenant_id == tenant_id
    assert authenticator(database).authenticate(f"Bearer {token}", None).tenant_id == tenant_id


def test_auth_off_anonymous(database: Database) -> None:
    assert Authenticator(Settings(auth="off"), database).authenticate(None, None) is ANONYMOUS


def test_admin_key_acts_as_tenant(database: Database) -> None:
    _, _, tenant_id = make_key(database, "acme")
    principal = authenticator(database, admin_key=ADMIN_KEY).authenticate(f"Bearer {ADMIN_KEY}", "acme")
    assert principal.tenant_id == tenant_id
    assert principal.is_admin


def test_admin_key_unset_rejected(database: Database) -> None:
    with pytest.raises(AuthError) as error:
        authenticator(database).authenticate(f"Bearer {ADMIN_KEY}", "acme")
    assert error.value.code == "invalid_api_key"


def test_log_warns_when_off(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="api.auth"):
        Authenticator(Settings(auth="off"), database).log_mode()
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "mode=off" in caplog.records[0].getMessage()


def test_log_warns_without_keys(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="api.auth"):
        authenticator(database).log_mode()
    messages = [record.getMessage() for record in caplog.records]
    assert any("mode=on" in message for message in messages)
    assert any("no_keys" in message for message in messages)


def test_revoke_twice_keeps_first_time(database: Database) -> None:
    _, key_id, _ = make_key(database, "acme")
    with database.session() as session:
        first = tenant_store.revoke_key(session, key_id).revoked_at
    with database.session() as session:
        second = tenant_store.revoke_key(session, key_id).revoked_at
    assert second == first
