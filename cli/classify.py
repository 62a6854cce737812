"""`flyp classify`: classify image files with a finished model."""

from __future__ import annotations

import argparse

from cli.remote import add_connection_options, connect, handle_errors, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    classify = subparsers.add_parser("classify", help="Classify image files with a finished or base model; prints the predictions.")
    classify.add_argument("model_id", help="The model: a succeeded job's model_id (model_...) or a base model id from `flyp models list`.")
    classify.add_argument("images", nargs="+", help="Image files; results keep this order.")
    classify.add_argument("--top-k", type=int, default=5, help="Labels returned per image, best first; default 5.")
    classify.add_argument(
        "--label", dest="labels", action="append", metavar="LABEL",
        help="A label to choose from; repeat it. Restricts or extends the model's classes; a base model needs labels.",
    )
    classify.add_argument(
        "--template", dest="templates", action="append", metavar="TEMPLATE",
        help="A prompt template with '{}' for labels scored zero-shot, or one template set name; repeat it.",
    )
    add_connection_options(classify)
    classify.set_defaults(handler=handle_errors(run_classify))


def run_classify(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.classify(args.model_id, args.images, top_k=args.top_k, labels=args.labels, templates=args.templates))
    return 0
