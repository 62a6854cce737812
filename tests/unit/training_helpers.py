"""Helpers that run short trainings and record their callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.manifest import DatasetManifest
from core.training import Hyperparameters, ModelSpec, Progress, TrainingResult, resolve_hyperparameters, train

MAX_IMAGE_PIXELS = 50_000_000


@dataclass
class RecordingCallbacks:
    """Callbacks that keep every progress report and event for assertions."""

    progress: list[Progress] = field(default_factory=list)
    events: list[tuple[str, str, dict]] = field(default_factory=list)

    def on_progress(self, progress: Progress) -> None:
        self.progress.append(progress)

    def on_event(self, level: str, message: str, data: dict) -> None:
        self.events.append((level, message, data))

    def events_named(self, name: str) -> list[dict]:
        return [data for _, _, data in self.events if data.get("event") == name]


@dataclass
class TrainedModel:
    model_dir: Path
    result: TrainingResult
    callbacks: RecordingCallbacks
    hyperparameters: dict


def run_training(
    root: Path,
    dataset_dir: Path,
    *,
    method: str = "flyp",
    architecture: str = "flyp-tiny",
    checkpoint: str | None = None,
    callbacks: RecordingCallbacks | None = None,
    extra_eval_dirs: dict[str, Path] | None = None,
    **overrides: object,
) -> TrainedModel:
    """Resolve hyperparameters for `dataset_dir` and train into `root/model`."""
    settings = {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "weight_decay": 0.1, "templates": "simple", "seed": 0}
    settings.update(overrides)
    manifest = DatasetManifest.load(dataset_dir)
    hyperparameters, _ = resolve_hyperparameters(
        Hyperparameters(**settings), method=method, num_train_images=len(manifest.split("train")), num_classes=len(manifest.classes)
    )
    callbacks = callbacks or RecordingCallbacks()
    result = train(
        dataset_dir=dataset_dir,
        model_spec=ModelSpec(architecture=architecture, checkpoint=checkpoint),
        method=method,
        hyperparameters=hyperparameters,
        model_dir=root / "model",
        work_dir=root / "work",
        cache_dir=root / "cache",
        device="cpu",
        max_image_pixels=MAX_IMAGE_PIXELS,
        callbacks=callbacks,
        extra_eval_dirs=extra_eval_dirs,
    )
    return TrainedModel(model_dir=root / "model", result=result, callbacks=callbacks, hyperparameters=hyperparameters)
