"""`train()`: one job from the zero-shot baseline to a saved, servable model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from core.training.callbacks import TrainingCallbacks
from core.training.config import ModelSpec
from core.training.finetune import finetune
from core.training.heads import text_head
from core.training.job import Job, prepare_job
from core.training.saving import save_model
from core.training.selection import is_better
from core.training.states import export_state
from core.training.validation import apply_state, evaluate, evaluate_all
from core.training.wise_ft import interpolate_state

logger = logging.getLogger(__name__)

SUMMARY_KEYS = ("num_images", "accuracy", "macro_f1", "loss")


@dataclass
class TrainingResult:
    """What a finished job reports: JSON-ready metrics and the class labels in label order."""

    metrics: dict
    classes: list[str]


def train(
    *,
    dataset_dir: Path,
    model_spec: ModelSpec,
    method: str,
    hyperparameters: dict,
    model_dir: Path,
    work_dir: Path,
    cache_dir: Path,
    device: str,
    max_image_pixels: int,
    callbacks: TrainingCallbacks,
    extra_eval_dirs: dict[str, Path] | None = None,
) -> TrainingResult:
    """Finetune with `method`, pick the epoch and WiSE-FT alpha on validation, and write `model_dir`.

    `hyperparameters` is the dict resolve_hyperparameters returned. Resumes from the newest
    checkpoint in `work_dir` when one with the same settings exists. Raises TrainingError for
    expected failures and lets TrainingStopped from a callback propagate; in both cases
    `model_dir` is not created.
    """
    job = prepare_job(
        dataset_dir=dataset_dir, model_spec=model_spec, method=method, hyperparameters=hyperparameters,
        work_dir=work_dir, cache_dir=cache_dir, device=device, max_image_pixels=max_image_pixels,
        callbacks=callbacks, extra_eval_dirs=extra_eval_dirs,
    )
    logger.info("training.started method=%s architecture=%s device=%s precision=%s", method, model_spec.architecture, job.device, job.precision)
    try:
        return _run(job, model_dir)
    finally:
        if job.device.type == "cuda":
            torch.cuda.empty_cache()


def _run(job: Job, model_dir: Path) -> TrainingResult:
    zeroshot_head = text_head(job.model, job.caption_tokens, num_classes=job.dataset.num_classes, device=job.device)
    metrics: dict = {"method": job.method, "classes": job.dataset.display_names, "zeroshot": evaluate_all(job, zeroshot_head)}
    _announce(job, "zero-shot", "zeroshot_evaluated", metrics["zeroshot"])

    linear_head = job.method in ("ce", "lp-ft")
    zeroshot_state = export_state(job.model, zeroshot_head if linear_head else None)
    if job.method == "zeroshot":
        final_state, alpha, epoch = zeroshot_state, None, 0
    else:
        finetuned_state, epoch = finetune(job, zeroshot_head, metrics)
        alpha = wise_ft_sweep(job, zeroshot_state, finetuned_state, metrics)
        final_state = interpolate_state(zeroshot_state, finetuned_state, alpha)

    head = apply_state(job, final_state)
    metrics["selected"] = {
        "epoch": epoch,
        "selection": job.hp.selection,
        "wise_ft_alpha": alpha,
        **evaluate_all(job, head),
        "test": evaluate(job, job.test, head),
    }
    _announce(job, "selected model", "model_selected", metrics["selected"])
    save_model(job, model_dir, head=head, metrics=metrics)
    return TrainingResult(metrics=metrics, classes=list(job.dataset.display_names))


def wise_ft_sweep(job: Job, zeroshot_state: dict, finetuned_state: dict, metrics: dict) -> float:
    """Evaluate theta(alpha) for every alpha, store the curve and return the best alpha on validation.

    A tie on the selection metric goes to the lower validation loss, then to the larger alpha.
    Without validation images the largest alpha is used.
    """
    alphas = sorted(job.hp.wise_ft_alphas, reverse=True)
    curve, best_alpha, best_val = [], alphas[0], None
    for alpha in alphas:
        head = apply_state(job, interpolate_state(zeroshot_state, finetuned_state, alpha))
        evaluated = evaluate_all(job, head)
        curve.append({"alpha": alpha, "val": _summary(evaluated["val"]), "extra": {name: _summary(value) for name, value in evaluated["extra"].items()}})
        if is_better(evaluated["val"], best_val, job.hp.selection_metric):
            best_alpha, best_val = alpha, evaluated["val"]

    curve.sort(key=lambda entry: entry["alpha"])
    metrics["wise_ft"] = {"alphas": [entry["alpha"] for entry in curve], "curve": curve, "selected_alpha": best_alpha}
    if best_val is None:
        job.warn(f"no validation images: WiSE-FT cannot choose, using alpha {best_alpha}")
    elif best_alpha == 0 and len(alphas) > 1:
        job.warn(
            "WiSE-FT selected alpha 0: the zero-shot weights scored at least as well on validation as every mix "
            "with the finetuned ones, so the served model is the zero-shot model. Train longer, add data or "
            "lower the learning rate, or set wise_ft_alphas to [1.0] to serve the finetuned weights.",
            {"selected_alpha": 0},
        )
    job.callbacks.on_event(
        "info", f"WiSE-FT selected alpha {best_alpha}", {"event": "wise_ft_evaluated", "selected_alpha": best_alpha, "curve": curve}
    )
    return best_alpha


def _summary(metrics: dict | None) -> dict | None:
    return None if metrics is None else {key: metrics[key] for key in SUMMARY_KEYS}


def _announce(job: Job, what: str, event: str, evaluated: dict) -> None:
    val = evaluated.get("val")
    accuracy = "n/a (no validation images)" if val is None else f"{val['accuracy']:.4f}"
    job.callbacks.on_event("info", f"{what} validation accuracy {accuracy}", {"event": event, **evaluated})
