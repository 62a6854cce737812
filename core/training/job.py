"""Everything a training job needs before its first step: settings, data, model and caches."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.errors import TrainingError
from core.manifest import DatasetManifest
from core.models import LoadedModel, create_base_model, resolve_templates
from core.training.callbacks import TrainingCallbacks
from core.training.config import ModelSpec
from core.training.dataset import ImageSet, TrainingDataset, load_dataset
from core.training.evaluation import EvalSet
from core.training.heads import tokenize_captions
from core.training.image_cache import ImageCache, open_cache
from core.training.precision import autocast_factory, resolve_device, resolve_precision
from core.training.resolve import ResolvedHyperparameters


@dataclass
class Job:
    method: str
    hp: ResolvedHyperparameters
    model_spec: ModelSpec
    device: torch.device
    precision: str
    autocast: Callable[[], AbstractContextManager]
    dataset: TrainingDataset
    loaded: LoadedModel
    templates: list[str]
    caption_tokens: torch.Tensor  # on the device; row c * len(templates) + t
    val: EvalSet
    test: EvalSet
    extra: list[EvalSet]
    cache_dir: Path
    work_dir: Path
    max_image_pixels: int
    callbacks: TrainingCallbacks

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    def warn(self, message: str, data: dict | None = None) -> None:
        self.callbacks.on_event("warning", message, {"event": "warning", **(data or {})})

    def train_cache(self) -> ImageCache:
        return self.cache_for(self.dataset.train, kind="train")

    def cache_for(self, images: ImageSet, *, kind: str) -> ImageCache:
        return open_cache(images, kind=kind, preprocessing=self.loaded.preprocessing, cache_dir=self.cache_dir, max_image_pixels=self.max_image_pixels)

    def eval_set(self, name: str, images: ImageSet) -> EvalSet:
        return EvalSet(name=name, cache=self.cache_for(images, kind="eval"), labels=torch.from_numpy(images.labels))


def prepare_job(
    *,
    dataset_dir: Path,
    model_spec: ModelSpec,
    method: str,
    hyperparameters: dict,
    work_dir: Path,
    cache_dir: Path,
    device: str,
    max_image_pixels: int,
    callbacks: TrainingCallbacks,
    extra_eval_dirs: dict[str, Path] | None,
) -> Job:
    hp = ResolvedHyperparameters.model_validate(hyperparameters)
    resolved_device = resolve_device(device)
    precision, precision_warnings = resolve_precision(hp.precision, resolved_device)
    dataset = load_dataset(dataset_dir, display_overrides=hp.class_names)
    _check_dataset(dataset, method)

    loaded = create_base_model(model_spec, seed=hp.seed)
    # Channels-last convolution weights: the ResNet image tower of flyp-tiny trained about 20%
    # faster per step on CPU (torch 2.14). Saved weights are made contiguous again (to_saveable).
    loaded.model.to(resolved_device, memory_format=torch.channels_last)
    templates = resolve_templates(hp.templates)
    caption_tokens = tokenize_captions(loaded.tokenizer, templates, dataset.display_names).to(resolved_device)

    job = Job(
        method=method, hp=hp, model_spec=model_spec, device=resolved_device, precision=precision,
        autocast=autocast_factory(resolved_device, precision), dataset=dataset, loaded=loaded, templates=templates,
        caption_tokens=caption_tokens, val=None, test=None, extra=[], cache_dir=cache_dir, work_dir=work_dir,
        max_image_pixels=max_image_pixels, callbacks=callbacks,
    )
    for message in precision_warnings + loaded.warnings:
        job.warn(message)
    job.val = job.eval_set("val", dataset.val)
    job.test = job.eval_set("test", dataset.test)
    job.extra = [_extra_eval_set(job, name, Path(path)) for name, path in (extra_eval_dirs or {}).items()]
    return job


def _check_dataset(dataset: TrainingDataset, method: str) -> None:
    if dataset.num_classes < 2:
        raise TrainingError("too_few_classes", f"the dataset has {dataset.num_classes} class; classification needs at least 2")
    if method != "zeroshot" and len(dataset.train) < 2:
        raise TrainingError("too_few_images", f"the dataset has {len(dataset.train)} training image; training needs at least 2")


def _extra_eval_set(job: Job, name: str, dataset_dir: Path) -> EvalSet:
    """Build an evaluation set from another dataset, matching classes by name.

    Uses its test split, else its val split, else all of its images. Images of classes this
    job does not have are skipped with a warning.
    """
    try:
        manifest = DatasetManifest.load(dataset_dir)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TrainingError("invalid_dataset", f"cannot read the extra evaluation dataset {name!r} in {dataset_dir}: {error}") from error
    items = manifest.split("test") or manifest.split("val") or manifest.items
    our_index = {class_name: index for index, class_name in enumerate(job.dataset.class_names)}
    their_names = [entry.name for entry in manifest.classes]
    kept = [item for item in items if their_names[item.label] in our_index]
    if len(kept) < len(items):
        job.warn(f"extra evaluation dataset {name!r}: skipped {len(items) - len(kept)} images of classes this job does not have")
    if not kept:
        raise TrainingError("invalid_dataset", f"extra evaluation dataset {name!r} has no images of this job's classes {job.dataset.class_names}")
    images = ImageSet(
        paths=tuple(dataset_dir / item.path for item in kept),
        labels=np.asarray([our_index[their_names[item.label]] for item in kept], dtype=np.int64),
        sha256s=tuple(item.sha256 for item in kept),
    )
    return job.eval_set(name, images)
