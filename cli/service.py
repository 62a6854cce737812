"""Subcommands that run the service: `serve`, `api`, `worker` and `db upgrade`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import uuid

from core.logging import configure_logging
from core.settings import get_settings

logger = logging.getLogger(__name__)

# Seconds the API waits for open requests, such as event streams, when it is stopped.
GRACEFUL_SHUTDOWN_SECONDS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="Run the embedded service: the API plus one worker process.")
    _add_address(serve)
    serve.set_defaults(handler=run_serve)

    api = subparsers.add_parser("api", help="Run the HTTP API only.")
    _add_address(api)
    api.set_defaults(handler=run_api)

    worker = subparsers.add_parser("worker", help="Run a Celery worker that trains queued jobs.")
    worker.add_argument("--concurrency", type=int, default=1, help="Jobs run at once (one per GPU); default 1.")
    worker.set_defaults(handler=run_worker)

    database = subparsers.add_parser("db", help="Manage the database schema.")
    database_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = database_commands.add_parser("upgrade", help="Apply all migrations (alembic upgrade head).")
    upgrade.set_defaults(handler=run_db_upgrade)


def _add_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on; default 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="TCP port to listen on; default 8000.")


def run_db_upgrade(_args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from core.store.migrate import upgrade

    settings = get_settings()
    configure_logging(settings.log_level)
    settings.ensure_dirs()
    try:
        upgrade(settings.resolved_database_url)
    except OperationalError as error:
        # The driver's first line names the cause, such as a missing database or a refused connection.
        cause = str(error.orig or error).strip().splitlines()[0]
        logger.error("db.upgrade.failed error=%s", cause)
        print(f"flyp db upgrade: cannot connect to the database in FLYP_DATABASE_URL: {cause}", file=sys.stderr)
        print("Create the database first (for example `createdb flyp`) and check the URL.", file=sys.stderr)
        return 1
    return 0


def run_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    # Open event streams would otherwise hold a graceful shutdown until their jobs end.
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_config=None, access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


def run_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    settings.ensure_dirs()
    from worker.app import celery_app

    logger.info("worker.start queue=%s concurrency=%d", settings.queue, args.concurrency)
    celery_app.worker_main(
        [
            "worker",
            f"--loglevel={settings.log_level}",
            f"--concurrency={args.concurrency}",
            "--pool=prefork",
            f"--queues={settings.queue}",
            f"--hostname=flyp-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    logger.info("worker.stop")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Apply migrations, start one worker process beside the API, and stop it on exit."""
    settings = get_settings()
    configure_logging(settings.log_level)
    run_db_upgrade(args)

    # The worker must see the same data directory even if it was given relative to here.
    environment = dict(os.environ, FLYP_DATA_DIR=str(settings.data_dir.resolve()))
    worker = subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=environment)
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that
    # would end this process before the `finally` below stops the worker.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    logger.info("serve.start host=%s port=%d worker_pid=%d data_dir=%s", args.host, args.port, worker.pid, settings.data_dir.resolve())
    try:
        return run_api(args)
    finally:
        _stop(worker)
        logger.info("serve.stop")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        logger.warning("serve.worker_kill pid=%d reason=no exit 30 s after SIGTERM", process.pid)
        process.kill()
        process.wait()
