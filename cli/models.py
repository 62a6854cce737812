"""`flyp models list|get|download|delete`: finetuned and base models on a running service."""

from __future__ import annotations

import argparse
import sys

from cli.remote import add_connection_options, add_page_options, connect, handle_errors, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="List, inspect, download and delete models on a running service.")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="Print a page of models: your finetuned ones first, then the base models.")
    add_page_options(listing, "model")
    add_connection_options(listing)
    listing.set_defaults(handler=handle_errors(run_list))

    get = actions.add_parser("get", help="Print one model with its classes and validation metrics.")
    get.add_argument("model_id")
    add_connection_options(get)
    get.set_defaults(handler=handle_errors(run_get))

    download = actions.add_parser("download", help="Save a finished model's checkpoint zip, loadable with plain open_clip.")
    download.add_argument("model_id")
    download.add_argument(
        "--output", "-o", help="Where to save the zip; a directory receives MODEL_ID.zip. Default: MODEL_ID.zip in the current directory."
    )
    add_connection_options(download)
    download.set_defaults(handler=handle_errors(run_download))

    delete = actions.add_parser("delete", help="Delete a finished model; requests already using it finish first.")
    delete.add_argument("model_id")
    add_connection_options(delete)
    delete.set_defaults(handler=handle_errors(run_delete))


def run_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.list_models(limit=args.limit, after=args.after))
    return 0


def run_get(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.get_model(args.model_id))
    return 0


def run_download(args: argparse.Namespace) -> int:
    with connect(args) as client:
        path = client.download_model(args.model_id, args.output or f"{args.model_id}.zip")
    print(f"Saved model {args.model_id} to {path} ({path.stat().st_size} bytes).", file=sys.stderr)
    print(path)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.delete_model(args.model_id))
    return 0
