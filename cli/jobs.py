"""`flyp jobs create|get|list|cancel|watch`: finetuning jobs on a running service."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.remote import add_connection_options, add_page_options, connect, handle_errors, print_json
from client import FlypClient, Job

if TYPE_CHECKING:
    from tqdm import tqdm


def register(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="Create, inspect, cancel and watch finetuning jobs on a running service.")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="Queue a finetuning job on a ready dataset; prints the job.")
    create.add_argument("--dataset", required=True, help="The dataset id (ds_...).")
    create.add_argument("--architecture", required=True, help="open_clip architecture, e.g. ViT-B-32 or flyp-tiny.")
    weights = create.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", help="open_clip pretrained tag, e.g. openai.")
    weights.add_argument("--checkpoint", help="Path of a checkpoint file on the workers.")
    create.add_argument("--method", default="flyp", help="Training method: flyp, ce, lp-ft or zeroshot; default flyp.")
    create.add_argument("--epochs", type=int, help="Training epochs; the service defaults to 10.")
    create.add_argument("--batch-size", type=int, help="Images per batch; the service defaults to 256 and lowers it to the number of training images.")
    create.add_argument("--learning-rate", type=float, help="Peak learning rate; the service defaults to 1e-5, which suits pretrained weights (use about 1e-3 for flyp-tiny).")
    create.add_argument("--hyperparameters", type=json.loads, default={}, help='Further hyperparameters as JSON, e.g. \'{"templates": "simple"}\'.')
    create.add_argument("--eval-dataset", action="append", default=[], help="Another dataset id to evaluate for every WiSE-FT alpha; repeat for several.")
    create.add_argument("--idempotency-key", help="Sent as Idempotency-Key, so a retried create returns the first job.")
    create.add_argument("--watch", action="store_true", help="Watch the job after creating it, as `flyp jobs watch` does.")
    add_connection_options(create)
    create.set_defaults(handler=handle_errors(run_create))

    for name, help_text, handler in (
        ("get", "Print one job with its progress and metrics.", run_get),
        ("cancel", "Cancel a queued or running job; prints the job.", run_cancel),
        ("watch", "Show a job's events and a progress bar until it ends; exit status 0 only if it succeeded.", run_watch),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("job_id")
        add_connection_options(action)
        action.set_defaults(handler=handle_errors(handler))

    report = actions.add_parser("report", help="Save the report plot of a succeeded job as a PNG file.")
    report.add_argument("job_id")
    report.add_argument("--output", required=True, help="PNG file to write.")
    add_connection_options(report)
    report.set_defaults(handler=handle_errors(run_report))

    listing = actions.add_parser("list", help="Print a page of jobs, newest first.")
    add_page_options(listing, "job")
    add_connection_options(listing)
    listing.set_defaults(handler=handle_errors(run_list))


def _hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    values = dict(args.hyperparameters)
    for key in ("epochs", "batch_size", "learning_rate"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    return values


def run_create(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.create_job(
            args.dataset,
            architecture=args.architecture,
            pretrained=args.pretrained,
            checkpoint=args.checkpoint,
            method=args.method,
            hyperparameters=_hyperparameters(args),
            idempotency_key=args.idempotency_key,
            eval_dataset_ids=args.eval_dataset,
        )
        if not args.watch:
            print_json(job)
            return 0
        print(f"Created job {job['id']}.", file=sys.stderr)
        return _watch(client, job["id"])


def run_get(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.get_job(args.job_id))
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.list_jobs(limit=args.limit, after=args.after))
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print_json(client.cancel_job(args.job_id))
    return 0


def run_watch(args: argparse.Namespace) -> int:
    with connect(args) as client:
        return _watch(client, args.job_id)


def _watch(client: FlypClient, job_id: str) -> int:
    """Print events above a step progress bar on stderr, then the final job on stdout."""
    from tqdm import tqdm

    job: Job | None = None
    with tqdm(total=None, unit="step", desc=job_id, file=sys.stderr, dynamic_ncols=True) as bar:
        for update in client.watch(job_id):
            job = update.job
            for event in update.events:
                bar.write(f"[{event['level']}] {event['message']}", file=sys.stderr)
            _show_progress(bar, job)
    assert job is not None  # watch yields at least once
    print_json(job)
    return 0 if job["status"] == "succeeded" else 1


def _show_progress(bar: tqdm, job: Job) -> None:
    progress = job.get("progress") or {}
    total, step = progress.get("total_steps"), progress.get("step")
    if isinstance(total, int) and total > 0 and bar.total != total:
        bar.total = total
    if isinstance(step, int) and step > bar.n:
        bar.update(step - bar.n)
    epoch, epochs = progress.get("epoch"), progress.get("epochs")
    bar.set_postfix_str(f"{job['status']}" + (f" epoch {epoch}/{epochs}" if epoch is not None and epochs else ""), refresh=True)


def run_report(args: argparse.Namespace) -> int:
    with connect(args) as client:
        Path(args.output).write_bytes(client.get_job_report(args.job_id))
    print(args.output)
    return 0
