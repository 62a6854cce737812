"""Evaluating the job's model on its validation, test and extra evaluation sets."""

from __future__ import annotations

import torch

from core.training.evaluation import EvalSet, encode_images, evaluate_features
from core.training.heads import ClassifierHead, text_head
from core.training.job import Job
from core.training.states import split_state


def evaluate(job: Job, eval_set: EvalSet, head: ClassifierHead) -> dict | None:
    """Return metrics of the current model with `head` on `eval_set`, or None for an empty set."""
    if len(eval_set) == 0:
        return None
    features = encode_images(job.model, eval_set, preprocessing=job.loaded.preprocessing, device=job.device, autocast=job.autocast)
    return evaluate_features(features, eval_set.labels, head)


def evaluate_all(job: Job, head: ClassifierHead) -> dict:
    return {"val": evaluate(job, job.val, head), "extra": {eval_set.name: evaluate(job, eval_set, head) for eval_set in job.extra}}


def apply_state(job: Job, state: dict[str, torch.Tensor]) -> ClassifierHead:
    """Load `state` into the job's model and return its head (rebuilt from the text tower when it has none)."""
    clip_state, head = split_state(state)
    job.model.load_state_dict(clip_state)
    if head is None:
        return text_head(job.model, job.caption_tokens, num_classes=job.dataset.num_classes, device=job.device)
    return head.to(job.device)
