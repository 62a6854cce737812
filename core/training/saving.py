"""Turning a finished job into a model directory (see core.training.artifacts for the layout)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import open_clip

from core.report import render_report
from core.training.artifacts import library_versions, write_model_dir
from core.training.heads import ClassifierHead, zeroshot_class_embeddings
from core.training.job import Job

logger = logging.getLogger(__name__)


def save_model(job: Job, model_dir: Path, *, head: ClassifierHead, metrics: dict) -> None:
    """Write the job's current model with `head` and `metrics` to `model_dir` atomically."""
    text_head = job.method in ("flyp", "zeroshot")
    class_embeddings = (
        zeroshot_class_embeddings(job.model, job.caption_tokens, num_classes=job.dataset.num_classes, device=job.device) if text_head else None
    )
    write_model_dir(
        model_dir,
        state_dict=job.model.state_dict(),
        head=head,
        class_embeddings=class_embeddings,
        logit_scale=job.model.logit_scale if text_head else None,
        metadata=_metadata(job, metrics, head_kind="text" if text_head else "linear"),
        open_clip_config={
            "model_cfg": open_clip.get_model_config(job.model_spec.architecture),
            "preprocess_cfg": open_clip.get_model_preprocess_cfg(job.model),
        },
        write_report=lambda path: render_report(metrics, path),
    )
    logger.info("training.model_saved model_dir=%s method=%s", model_dir, job.method)


def _metadata(job: Job, metrics: dict, *, head_kind: str) -> dict:
    selected = metrics["selected"]
    return {
        "architecture": job.model_spec.architecture,
        "pretrained": job.model_spec.pretrained,
        "checkpoint": job.model_spec.checkpoint,
        "weights_source": job.loaded.weights,
        "method": job.method,
        "classes": [
            {"name": name, "display_name": display} for name, display in zip(job.dataset.class_names, job.dataset.display_names)
        ],
        "templates": job.templates,
        "template_set": job.hp.templates if isinstance(job.hp.templates, str) else "custom",
        "head": {"kind": head_kind, "formula": "logits = normalize(image_features) @ weight.T + bias"},
        "hyperparameters": job.hp.model_dump(mode="json"),
        "seed": job.hp.seed,
        "selected_epoch": selected["epoch"],
        "wise_ft_alpha": selected["wise_ft_alpha"],
        "metrics": metrics,
        "dataset_hash": job.dataset.dataset_hash,
        "preprocessing": job.loaded.preprocessing.to_dict(),
        "precision": job.precision,
        "library_versions": library_versions(),
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
