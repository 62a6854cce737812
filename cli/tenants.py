"""`flyp tenants list|limits`: show tenants and set their own limits in the service's database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from cli.keys import open_database
from core.errors import ServiceError

# The value that clears a tenant's own limit, so the FLYP_TENANT_* default applies again.
DEFAULT = "default"
# The parsed value of a limit option that was not given, so that limit stays as it is.
UNCHANGED = object()
# The largest values of the limit columns: BIGINT for stored bytes, INTEGER for the others.
MAX_BIGINT = 2**63 - 1
MAX_INTEGER = 2**31 - 1


def register(subparsers: argparse._SubParsersAction) -> None:
    tenants = subparsers.add_parser("tenants", help="List tenants and set their limits (reads FLYP_DATABASE_URL).")
    actions = tenants.add_subparsers(dest="tenants_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="List tenants with their own limits ('default' where none is set).")
    listing.set_defaults(handler=run_list)

    limits = actions.add_parser(
        "limits",
        help="Set a tenant's own limits: a number (0 means no limit), or 'default' to use the FLYP_TENANT_* setting again.",
    )
    limits.add_argument("tenant", help="The tenant's name, as given to `flyp keys create --tenant`.")
    limits.add_argument(
        "--max-stored-bytes", type=_limit_parser(MAX_BIGINT), default=UNCHANGED, help="Summed upload bytes of the tenant's datasets."
    )
    limits.add_argument("--max-active-jobs", type=_limit_parser(MAX_INTEGER), default=UNCHANGED, help="Queued plus running jobs.")
    limits.add_argument("--classify-per-minute", type=_limit_parser(MAX_INTEGER), default=UNCHANGED, help="Classify requests per minute.")
    limits.set_defaults(handler=run_limits)


def _limit_parser(maximum: int) -> Callable[[str], int | None]:
    """Return an argparse type for a limit stored in a column whose largest value is `maximum`."""

    def parse(text: str) -> int | None:
        if text == DEFAULT:
            return None
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number or {DEFAULT!r}, got {text!r}") from None
        if not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected 0 (no limit) to {maximum}, got {value}")
        return value

    return parse


def run_list(_args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from core.store.tables import Tenant

    database = open_database()
    try:
        with database.session() as session:
            tenants = list(session.scalars(select(Tenant).order_by(Tenant.name)))
    finally:
        database.dispose()
    print(f"{'ID':<32} {'NAME':<24} {'MAX_STORED_BYTES':<18} {'MAX_ACTIVE_JOBS':<16} CLASSIFY_PER_MINUTE")
    for tenant in tenants:
        stored, active, rate = (_shown(value) for value in (tenant.max_stored_bytes, tenant.max_active_jobs, tenant.classify_per_minute))
        print(f"{tenant.id:<32} {tenant.name:<24} {stored:<18} {active:<16} {rate}")
    return 0


def _shown(value: int | None) -> str:
    return DEFAULT if value is None else str(value)


def run_limits(args: argparse.Namespace) -> int:
    from core.store import tenants as tenant_store

    changes = {name: getattr(args, name) for name in tenant_store.LIMIT_NAMES if getattr(args, name) is not UNCHANGED}
    if not changes:
        print("flyp tenants limits: give at least one of --max-stored-bytes, --max-active-jobs, --classify-per-minute", file=sys.stderr)
        return 2
    database = open_database()
    try:
        with database.session() as session:
            tenant = tenant_store.set_limits(session, args.tenant, changes)
            summary = ", ".join(f"{name}={_shown(getattr(tenant, name))}" for name in tenant_store.LIMIT_NAMES)
    except ServiceError as error:
        print(f"flyp tenants limits: {error.message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"Limits of tenant {args.tenant}: {summary}. API processes apply them to the next request of each key.")
    return 0
