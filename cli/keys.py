"""`flyp keys create|list|revoke`: manage API keys directly in the service's database."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from core.errors import ServiceError
from core.logging import configure_logging
from core.settings import get_settings

if TYPE_CHECKING:
    from core.store.db import Database


def register(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="Create, list and revoke API keys (reads FLYP_DATABASE_URL).")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="Create a key for a tenant, creating the tenant on first use; prints the key once.")
    create.add_argument("--tenant", required=True, help="Tenant name: letters, digits, '.', '_' or '-'.")
    create.add_argument("--name", help="A label for the key, e.g. the service or person that uses it.")
    create.set_defaults(handler=run_create)

    listing = actions.add_parser("list", help="List keys with their tenant and state; never the secret.")
    listing.add_argument("--tenant", help="Only this tenant's keys.")
    listing.set_defaults(handler=run_list)

    revoke = actions.add_parser("revoke", help="Revoke a key; requests with it get 401 from then on.")
    revoke.add_argument("key_id", help="The key's id (key_...), as `flyp keys list` shows it.")
    revoke.set_defaults(handler=run_revoke)


def open_database() -> Database:
    # Imported here so that `flyp --help` and the other commands do not load SQLAlchemy.
    from core.store.db import Database

    settings = get_settings()
    configure_logging(settings.log_level)
    return Database(settings.resolved_database_url)


def run_create(args: argparse.Namespace) -> int:
    from core.store import tenants as tenant_store

    database = open_database()
    try:
        with database.session() as session:
            tenant = tenant_store.ensure_tenant(session, args.tenant)
            key, new_key = tenant_store.create_key(session, tenant, args.name)
            key_id, tenant_id = key.id, tenant.id
    except ServiceError as error:
        print(f"flyp keys create: {error.message}", file=sys.stderr)
        return 2
    finally:
        database.dispose()
    print(f"Created API key {key_id} for tenant {args.tenant} ({tenant_id}).", file=sys.stderr)
    print("The service stores only its hash: copy the key now, it is not shown again.", file=sys.stderr)
    print(new_key.token)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from core.store import tenants as tenant_store

    database = open_database()
    try:
        with database.session() as session:
            rows = tenant_store.list_keys(session, args.tenant)
    finally:
        database.dispose()
    print(f"{'ID':<30} {'PREFIX':<14} {'TENANT':<24} {'NAME':<20} {'CREATED':<20} REVOKED")
    for key, tenant in rows:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if key.revoked_at else "-"
        created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{key.id:<30} {key.prefix:<14} {tenant.name:<24} {key.name or '-':<20} {created:<20} {revoked}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from core.store import tenants as tenant_store

    database = open_database()
    try:
        with database.session() as session:
            key = tenant_store.revoke_key(session, args.key_id)
            revoked_at = key.revoked_at
    except ServiceError as error:
        print(f"flyp keys revoke: {error.message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"Revoked API key {args.key_id} at {revoked_at:%Y-%m-%d %H:%M:%S} UTC.")
    return 0
