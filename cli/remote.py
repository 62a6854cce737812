"""Shared plumbing of the commands that call a running service through the Python client."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx

from client import ApiError, FlypClient
from client.client import KEY_VARIABLE, URL_VARIABLE


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--url", help=f"Base URL of the service; default ${URL_VARIABLE} or http://127.0.0.1:8000.")
    group.add_argument("--api-key", help=f"API key; default ${KEY_VARIABLE}. Prefer the variable: arguments show up in `ps`.")
    group.add_argument("--tenant", help="Tenant to act as; only the admin key needs it (sent as the Flyp-Tenant header).")


def add_page_options(parser: argparse.ArgumentParser, noun: str) -> None:
    """Add --limit and --after, the cursor pagination of every list endpoint, for `noun`s."""
    parser.add_argument("--limit", type=int, default=20, help=f"{noun.capitalize()}s per page, 1 to 100; default 20.")
    parser.add_argument("--after", help=f"Id of the last {noun} of the previous page.")


def connect(args: argparse.Namespace) -> FlypClient:
    return FlypClient(args.url, args.api_key, tenant=args.tenant)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def handle_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn API, connection and local file errors into one line on stderr and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ApiError as error:
            param = f" (param: {error.param})" if error.param else ""
            # The 429 of the classify rate already names the wait in its message.
            retry = f" Retry after {error.retry_after} s." if error.retry_after and f"{error.retry_after} s" not in error.message else ""
            print(f"flyp: {error.status_code} {error.code}: {error.message}{param}{retry}", file=sys.stderr)
            return 1
        except httpx.HTTPError as error:
            print(f"flyp: cannot reach the service: {error}", file=sys.stderr)
            return 1
        except OSError as error:
            # A local file that cannot be read (an image) or written (a download's output).
            print(f"flyp: {error.filename or 'a local file'}: {error.strerror or error}", file=sys.stderr)
            return 1

    return run
