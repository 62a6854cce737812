"""The `flyp` command: run the service, a worker, migrations, or a training run."""

from __future__ import annotations

import argparse
import os
import sys

from cli import classify, datasets, health, jobs, keys, models, service, tenants


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flyp", description="Finetune CLIP-style models with FLYP, as a service or from the command line.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (service, keys, tenants, health, datasets, jobs, models, classify):
        module.register(subparsers)
    try:
        from cli import train
    except ImportError:  # NOTE: `flyp train` arrives with the training engine's command module.
        train = None
    if train is not None:
        train.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        # The reader of stdout went away (`flyp jobs list | head`): stop quietly, and point
        # stdout at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
