"""Filling in a job's hyperparameters for its dataset, with warnings for every adjustment."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from core.errors import InvalidRequestError
from core.models.templates import resolve_templates
from core.training.config import METHODS, Hyperparameters

# FLYP's reference runs warm up for 500 steps; small datasets get at most 10% of all steps.
DEFAULT_WARMUP_STEPS = 500
MAX_DEFAULT_WARMUP_FRACTION = 0.1
DEFAULT_WISE_FT_ALPHAS = tuple(round(0.1 * index, 1) for index in range(11))
DEFAULT_CE_MAX_GRAD_NORM = 1.0
DEFAULT_LP_EPOCHS = 10
DEFAULT_LP_LEARNING_RATE = 1e-3


class ResolvedHyperparameters(BaseModel):
    """Every hyperparameter of a job with defaults filled in; `train()` reads this from a dict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int
    min_lr: float
    templates: str | list[str]
    num_templates: int
    seed: int
    class_names: dict[str, str] | None
    precision: str
    clamp_logit_scale: bool
    loss: str
    selection: str
    selection_metric: str
    wise_ft_alphas: list[float]
    max_grad_norm: float | None
    lp_epochs: int
    lp_learning_rate: float
    num_workers: int | None
    steps_per_epoch: int
    total_steps: int


def resolve_hyperparameters(
    hyperparameters: Hyperparameters, *, method: str, num_train_images: int, num_classes: int
) -> tuple[dict, list[str]]:
    """Return every hyperparameter filled in for this dataset as a JSON-ready dict, and warnings.

    Raises InvalidRequestError (with `param` naming the field) for an unknown method, fewer
    than 2 classes, fewer than 2 training images, a bad template set or fp16 precision.
    """
    _check_request(hyperparameters, method=method, num_train_images=num_train_images, num_classes=num_classes)
    templates = resolve_templates(hyperparameters.templates)
    warnings: list[str] = []

    batch_size = hyperparameters.batch_size
    if method != "zeroshot" and batch_size > num_train_images:
        warnings.append(f"batch_size {batch_size} is larger than the {num_train_images} training images; using {num_train_images}")
        batch_size = num_train_images
    steps_per_epoch = math.ceil(max(num_train_images, 1) / batch_size)
    epochs = 0 if method == "zeroshot" else hyperparameters.epochs
    total_steps = epochs * steps_per_epoch
    warmup_steps = _resolve_warmup(hyperparameters.warmup_steps, total_steps, warnings)

    resolved = ResolvedHyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=hyperparameters.learning_rate,
        weight_decay=hyperparameters.weight_decay,
        warmup_steps=warmup_steps,
        min_lr=hyperparameters.min_lr,
        templates=hyperparameters.templates,
        num_templates=len(templates),
        seed=hyperparameters.seed,
        class_names=hyperparameters.class_names,
        precision=hyperparameters.precision,
        clamp_logit_scale=hyperparameters.clamp_logit_scale,
        loss=hyperparameters.loss,
        selection=hyperparameters.selection,
        selection_metric=hyperparameters.selection_metric,
        wise_ft_alphas=_resolve_alphas(hyperparameters.wise_ft_alphas),
        max_grad_norm=_resolve_grad_norm(hyperparameters.max_grad_norm, method),
        lp_epochs=hyperparameters.lp_epochs or DEFAULT_LP_EPOCHS,
        lp_learning_rate=hyperparameters.lp_learning_rate or DEFAULT_LP_LEARNING_RATE,
        num_workers=hyperparameters.num_workers,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
    )
    return resolved.model_dump(mode="json"), warnings


def _check_request(hyperparameters: Hyperparameters, *, method: str, num_train_images: int, num_classes: int) -> None:
    if method not in METHODS:
        raise InvalidRequestError("unknown_method", f"unknown method {method!r}; use one of: {', '.join(METHODS)}", param="method")
    if num_classes < 2:
        raise InvalidRequestError(
            "too_few_classes", f"the dataset has {num_classes} class; classification needs at least 2 classes", param="dataset_id"
        )
    if method != "zeroshot" and num_train_images < 2:
        raise InvalidRequestError(
            "too_few_images",
            f"the dataset has {num_train_images} training image; the contrastive loss needs at least 2 in a batch",
            param="dataset_id",
        )
    if hyperparameters.precision == "fp16":
        raise InvalidRequestError(
            "unsupported_precision",
            "precision fp16 is not offered: AdamW on pure fp16 weights produces NaN losses. "
            "Use bf16 (fp32 weights with bf16 autocast on CUDA) or fp32.",
            param="hyperparameters.precision",
        )


def _resolve_warmup(requested: int | None, total_steps: int, warnings: list[str]) -> int:
    if requested is not None:
        return requested
    if total_steps == 0:
        return 0
    cap = math.floor(MAX_DEFAULT_WARMUP_FRACTION * total_steps)
    if cap < DEFAULT_WARMUP_STEPS:
        warnings.append(
            f"warmup_steps scaled down from {DEFAULT_WARMUP_STEPS} to {cap} "
            f"({MAX_DEFAULT_WARMUP_FRACTION:.0%} of the {total_steps} training steps) for this dataset size"
        )
        return cap
    return DEFAULT_WARMUP_STEPS


def _resolve_alphas(alphas: list[float] | None) -> list[float]:
    if alphas is None:
        return list(DEFAULT_WISE_FT_ALPHAS)
    if not alphas or any(not 0.0 <= alpha <= 1.0 for alpha in alphas):
        raise InvalidRequestError(
            "invalid_wise_ft_alphas", f"wise_ft_alphas must be a non-empty list of values in [0, 1], got {alphas}", param="hyperparameters.wise_ft_alphas"
        )
    return sorted(set(float(alpha) for alpha in alphas))


def _resolve_grad_norm(requested: float | None, method: str) -> float | None:
    if requested is not None:
        return requested
    return DEFAULT_CE_MAX_GRAD_NORM if method in ("ce", "lp-ft") else None
