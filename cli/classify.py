"""`flyp classify`: classify image files with a finished model."""

from __future__ import annotations

import argparse

from cli.remote import add_connection_options, connect, handle_errors, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    classify = subparsers.add_parser("classify", help="Classify image files with a finished model; prints the predictions.")
    classify.add_argument("model_id", help="The model (model_...), from a succeeded job's model_id.")
    classify.add_argument("images", nargs="+", help="Image files; results keep this order.")
    classify.add_argument("--top-k", type=int, default=5, help="Labels returned per image, best first; default 5.")
    add_connection_options(classify)
    classify.set_defaults(handler=handle_errors(run_classify))


def run_classify(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.classify(args.model_id, args.images, top_k=args.top_k))
    return 0
