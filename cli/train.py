"""`flyp train`: run a training job on a local folder without the service, and write its report."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ServiceError
from core.logging import configure_logging
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from core.training import Progress

logger = logging.getLogger(__name__)

METRICS_FILE = "report.json"
REPORT_FILE = "report.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="Finetune on a local folder of class folders without the service; writes the model and the training report.",
    )
    train.add_argument("--data", required=True, type=Path, help="Folder of class folders, optionally inside train/, val/ and test/ folders.")
    train.add_argument("--output", required=True, type=Path, help="Directory to create for the dataset, model, report.json and report.png.")

    train.add_argument("--method", choices=("flyp", "ce", "lp-ft", "zeroshot"), default="flyp", help="Training method; default flyp.")
    train.add_argument("--architecture", default="ViT-B-32", help="open_clip architecture, or flyp-tiny or flyp-small; default ViT-B-32.")
    weights = train.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", help="open_clip pretrained tag, for example openai; default: random weights.")
    weights.add_argument("--checkpoint", help="Path of a local checkpoint file to start from.")

    train.add_argument("--epochs", type=int, help="Training epochs; default 10.")
    train.add_argument("--batch-size", type=int, help="Images per optimizer step; default 256, capped at the training set size.")
    train.add_argument("--learning-rate", type=float, help="Peak learning rate of AdamW; default 1e-5.")
    train.add_argument("--weight-decay", type=float, help="AdamW weight decay on every parameter; default 0.1.")
    train.add_argument("--warmup-steps", type=int, help="Linear warmup steps; default 500, capped at 10%% of all steps.")
    train.add_argument("--templates", help="Template set name (simple or openai_imagenet); default openai_imagenet.")
    train.add_argument("--template", action="append", dest="template_list", help="A custom template with one '{}'; repeat for several.")
    train.add_argument("--seed", type=int, help="Seed of weights, sampling and augmentation; default 0.")
    train.add_argument("--precision", choices=("auto", "bf16", "fp32"), help="auto: bf16 autocast on CUDA, fp32 on CPU; default auto.")
    train.add_argument("--selection", choices=("best", "last"), help="Keep the best validation epoch or the last; default best.")
    train.add_argument("--no-clamp-logit-scale", action="store_true", help="Leave logit_scale unclamped, as the FLYP reference does.")

    train.add_argument("--val-fraction", type=float, help="Share of each class held out for validation when DIR has no val/ folder; default 0.2.")
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N; default FLYP_DEVICE (auto).")
    train.add_argument(
        "--eval-data",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="An extra evaluation folder, reported as NAME for every WiSE-FT alpha; repeat for several. "
        "Its test/ images are used, else its val/ images, matched to the classes by folder name.",
    )
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    if args.output.exists():
        print(f"error: the output directory {args.output} already exists; choose a new one", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"error: --data {args.data} is not a directory", file=sys.stderr)
        return 2

    try:
        metrics = _train_folder(args, settings)
    except ServiceError as error:
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except ValueError as error:  # pydantic's ValidationError names every invalid option
        print(f"error: invalid option: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    selected = metrics["selected"]["val"]
    zeroshot = metrics["zeroshot"]["val"]
    print(
        json.dumps(
            {
                "model_dir": str(args.output / "model"),
                "report": str(args.output / REPORT_FILE),
                "zeroshot_val_accuracy": zeroshot["accuracy"] if zeroshot else None,
                "selected_val_accuracy": selected["accuracy"] if selected else None,
                "wise_ft_alpha": metrics["selected"]["wise_ft_alpha"],
            },
            indent=2,
        )
    )
    return 0


def _train_folder(args: argparse.Namespace, settings: Settings) -> dict:
    """Ingest `args.data` like an upload, train into `args.output/model` and write the report files."""
    from core.ingest import IngestLimits, ingest_folder
    from core.training import Hyperparameters, ModelSpec, resolve_hyperparameters, train
    from core.training.artifacts import REPORT_FILE as MODEL_REPORT_FILE

    hyperparameters = Hyperparameters(**_requested_hyperparameters(args))
    eval_folders = _parse_eval_data(args.eval_data)
    model_spec = ModelSpec(architecture=args.architecture, pretrained=args.pretrained, checkpoint=args.checkpoint)
    args.output.mkdir(parents=True)
    dataset_dir = args.output / "dataset"
    ingested = ingest_folder(
        args.data, dataset_dir, limits=IngestLimits.from_settings(settings), val_fraction=args.val_fraction or settings.val_fraction, seed=hyperparameters.seed
    )
    for warning in ingested.report.get("warnings", []):
        logger.warning("train.dataset_warning message=%s", warning.get("message"))
    extra_eval_dirs = {}
    for name, folder in eval_folders.items():
        extra_eval_dirs[name] = args.output / "eval" / name
        ingest_folder(folder, extra_eval_dirs[name], limits=IngestLimits.from_settings(settings), val_fraction=settings.val_fraction, seed=hyperparameters.seed)

    manifest = ingested.manifest
    resolved, warnings = resolve_hyperparameters(
        hyperparameters, method=args.method, num_train_images=len(manifest.split("train")), num_classes=len(manifest.classes)
    )
    for message in warnings:
        logger.warning("train.hyperparameter_adjusted message=%s", message)
    result = train(
        dataset_dir=dataset_dir,
        model_spec=model_spec,
        method=args.method,
        hyperparameters=resolved,
        model_dir=args.output / "model",
        work_dir=args.output / "work",
        cache_dir=args.output / "cache",
        device=args.device or settings.device,
        max_image_pixels=settings.max_image_pixels,
        callbacks=LoggingCallbacks(),
        extra_eval_dirs=extra_eval_dirs,
    )

    report = {"method": args.method, "model": model_spec.model_dump(exclude_none=True), "hyperparameters": resolved, "metrics": result.metrics}
    (args.output / METRICS_FILE).write_text(json.dumps(report, indent=2, allow_nan=False))
    shutil.copyfile(args.output / "model" / MODEL_REPORT_FILE, args.output / REPORT_FILE)
    return result.metrics


def _requested_hyperparameters(args: argparse.Namespace) -> dict:
    """Return only the hyperparameters given on the command line, so the rest keep their defaults."""
    requested = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay,
        "warmup_steps": args.warmup_steps,
        "templates": args.template_list or args.templates,
        "seed": args.seed,
        "precision": args.precision,
        "selection": args.selection,
        "clamp_logit_scale": False if args.no_clamp_logit_scale else None,
    }
    return {name: value for name, value in requested.items() if value is not None}


def _parse_eval_data(values: list[str]) -> dict[str, Path]:
    folders = {}
    for value in values:
        name, separator, folder = value.partition("=")
        if not separator or not name or not folder or "/" in name:
            raise ValueError(f"--eval-data {value!r} is invalid: use NAME=DIR with a NAME without '/'")
        folders[name] = Path(folder)
    return folders


class LoggingCallbacks:
    """Training callbacks that log each event and every epoch's last step."""

    def on_progress(self, progress: Progress) -> None:
        if progress.step % max(progress.total_steps // max(progress.epochs, 1), 1) == 0:
            logger.info(
                "train.progress epoch=%d/%d step=%d/%d loss=%.4f images_per_second=%.1f",
                progress.epoch, progress.epochs, progress.step, progress.total_steps, progress.loss, progress.images_per_second,
            )

    def on_event(self, level: str, message: str, data: dict) -> None:
        logger.log(logging.WARNING if level == "warning" else logging.INFO, "train.%s %s", data.get("event", "event"), message)
