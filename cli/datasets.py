"""`flyp datasets upload|get|list`: datasets on a running service."""

from __future__ import annotations

import argparse

from cli.remote import add_connection_options, add_page_options, connect, handle_errors, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    datasets = subparsers.add_parser("datasets", help="Upload and inspect datasets on a running service.")
    actions = datasets.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")

    upload = actions.add_parser("upload", help="Upload an archive of class folders (zip or tar); prints the dataset.")
    upload.add_argument("path", help="The archive file.")
    upload.add_argument("--name", help="Dataset name; default is the file name.")
    add_connection_options(upload)
    upload.set_defaults(handler=handle_errors(run_upload))

    get = actions.add_parser("get", help="Print one dataset with its ingest report.")
    get.add_argument("dataset_id")
    add_connection_options(get)
    get.set_defaults(handler=handle_errors(run_get))

    listing = actions.add_parser("list", help="Print a page of datasets, newest first.")
    add_page_options(listing, "dataset")
    add_connection_options(listing)
    listing.set_defaults(handler=handle_errors(run_list))


def run_upload(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.upload_dataset(args.path, name=args.name))
    return 0


def run_get(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.get_dataset(args.dataset_id))
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.list_datasets(limit=args.limit, after=args.after))
    return 0
