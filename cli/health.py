"""`flyp health api|worker`: exit 0 when a local service process is healthy (for container health checks)."""

from __future__ import annotations

import argparse
import socket
import sys

import httpx

from core.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser("health", help="Check a service process on this host; exit status 0 when healthy.")
    checks = health.add_subparsers(dest="health_command", required=True, metavar="PROCESS")

    api = checks.add_parser("api", help="GET /healthz of the API.")
    api.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the API; default http://127.0.0.1:8000.")
    api.add_argument("--timeout", type=float, default=2.0, help="Seconds to wait for the response; default 2.")
    api.set_defaults(handler=check_api)

    worker = checks.add_parser("worker", help="Ping, through the broker, the Celery workers of this host.")
    worker.add_argument("--timeout", type=float, default=5.0, help="Seconds to wait for replies; default 5.")
    worker.set_defaults(handler=check_worker)


def check_api(args: argparse.Namespace) -> int:
    try:
        response = httpx.get(f"{args.url.rstrip('/')}/healthz", timeout=args.timeout)
    except httpx.HTTPError as error:
        print(f"flyp health api: {args.url} unreachable: {error}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"flyp health api: /healthz returned {response.status_code}", file=sys.stderr)
        return 1
    return 0


def check_worker(args: argparse.Namespace) -> int:
    """Succeed when a worker named `...@<this hostname>` replies to a Celery ping."""
    from celery import Celery

    from core.broker import celery_config

    settings = get_settings()
    app = Celery("flyp-health")
    app.conf.update(celery_config(settings))
    suffix = f"@{socket.gethostname()}"
    try:
        replies = app.control.ping(timeout=args.timeout) or []
    except Exception as error:  # noqa: BLE001 - any broker failure means unhealthy
        print(f"flyp health worker: broker unreachable: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        app.close()
    names = [name for reply in replies for name in reply]
    if not any(name.endswith(suffix) for name in names):
        print(f"flyp health worker: no worker on {suffix[1:]} replied to a ping within {args.timeout} s", file=sys.stderr)
        return 1
    return 0
