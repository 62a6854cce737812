"""Error paths of the `flyp` command: one readable line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from cli.remote import handle_errors
from client import ApiError
from tests.stack import REPO_ROOT, service_environment


def _failing(error: Exception):  # type: ignore[no-untyped-def]
    def command(_args: argparse.Namespace) -> int:
        raise error

    return handle_errors(command)


def test_rate_limit_wait_is_named_once(capsys: pytest.CaptureFixture[str]) -> None:
    error = ApiError(429, "rate_limited", "More than 5 classify requests per minute; retry in 12 s.", retry_after=12)

    assert _failing(error)(argparse.Namespace()) == 1

    assert capsys.readouterr().err.count("12 s") == 1


def test_retry_after_is_added_when_missing(capsys: pytest.CaptureFixture[str]) -> None:
    error = ApiError(503, "broker_unavailable", "The broker cannot be reached.", retry_after=30)

    assert _failing(error)(argparse.Namespace()) == 1

    assert "Retry after 30 s." in capsys.readouterr().err


def test_db_upgrade_of_missing_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import POSTGRES_ADMIN_URL

    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    environment = service_environment(tmp_path, database_url=f"{base}/flyp_no_such_database")

    result = subprocess.run(
        [sys.executable, "-m", "cli", "db", "upgrade"], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert 'database "flyp_no_such_database" does not exist' in result.stderr
