"""The training part of each method: FLYP, cross-entropy (ce) and LP-FT, over the shared epoch loop."""

from __future__ import annotations

import math

import torch

from core.training.checkpoints import job_fingerprint, load_best_weights
from core.training.batches import resolve_num_workers
from core.training.epochs import EpochLoop, History
from core.training.evaluation import encode_images, evaluate_features
from core.training.heads import ClassifierHead
from core.training.job import Job
from core.training.linear_probe import train_linear_probe
from core.training.loop import StepSettings, create_optimizer
from core.training.objectives import CrossEntropyObjective, FlypObjective, ImageClassifier
from core.training.sampler import PairSampler
from core.training.states import export_state
from core.training.validation import evaluate


def finetune(job: Job, zeroshot_head: ClassifierHead, metrics: dict) -> tuple[dict[str, torch.Tensor], int]:
    """Train with the job's method; record per-epoch metrics; return the kept state and its epoch."""
    objective, classifier = _objective(job, zeroshot_head, metrics)
    num_templates = job.hp.num_templates if job.method == "flyp" else 1
    steps_per_epoch = math.ceil(len(job.dataset.train) / job.hp.batch_size)
    num_workers, worker_warnings = resolve_num_workers(job.hp.num_workers, device=job.device)
    for message in worker_warnings:
        job.warn(message)

    def export() -> dict[str, torch.Tensor]:
        return export_state(job.model, classifier.classifier_head() if classifier else None)

    def evaluate_epoch() -> dict | None:
        return evaluate(job, job.val, objective.head(job.device))

    loop = EpochLoop(
        objective=objective,
        optimizer=create_optimizer(objective.trainable, learning_rate=job.hp.learning_rate, weight_decay=job.hp.weight_decay),
        sampler=PairSampler(num_images=len(job.dataset.train), num_templates=num_templates, batch_size=job.hp.batch_size, seed=job.hp.seed),
        train_cache=job.train_cache(),
        train_labels=torch.from_numpy(job.dataset.train.labels),
        preprocessing=job.loaded.preprocessing,
        settings=StepSettings(
            base_lr=job.hp.learning_rate, warmup_steps=job.hp.warmup_steps, total_steps=job.hp.epochs * steps_per_epoch,
            min_lr=job.hp.min_lr, max_grad_norm=job.hp.max_grad_norm, clamp_logit_scale=job.hp.clamp_logit_scale,
        ),
        epochs=job.hp.epochs,
        steps_per_epoch=steps_per_epoch,
        seed=job.hp.seed,
        device=job.device,
        autocast=job.autocast,
        callbacks=job.callbacks,
        work_dir=job.work_dir,
        fingerprint=job_fingerprint(
            method=job.method, hyperparameters=job.hp.model_dump(mode="json"), model=job.model_spec.model_dump(mode="json"),
            dataset=job.dataset.dataset_hash, display_names=job.dataset.display_names,
        ),
        num_workers=num_workers,
        selection_metric=job.hp.selection_metric,
        evaluate=evaluate_epoch,
        export_state=export,
    )
    history = loop.run()
    _record_history(job, history, metrics, num_workers)
    return _kept_state(job, history, export)


def _objective(job: Job, zeroshot_head: ClassifierHead, metrics: dict) -> tuple[object, ImageClassifier | None]:
    if job.method == "flyp":
        objective = FlypObjective(
            job.model, job.caption_tokens, num_templates=job.hp.num_templates, num_classes=job.dataset.num_classes,
            label_aware=job.hp.loss == "label_aware",
        )
        return objective, None
    head = _linear_probe(job, zeroshot_head, metrics) if job.method == "lp-ft" else zeroshot_head
    classifier = ImageClassifier(job.model.visual, head).to(job.device)
    return CrossEntropyObjective(classifier), classifier


def _linear_probe(job: Job, zeroshot_head: ClassifierHead, metrics: dict) -> ClassifierHead:
    """Train the head alone on frozen features of the training images (evaluation transform)."""
    train_set = job.eval_set("train", job.dataset.train)
    features = encode_images(job.model, train_set, preprocessing=job.loaded.preprocessing, device=job.device, autocast=job.autocast)
    head = train_linear_probe(
        features, train_set.labels, zeroshot_head, epochs=job.hp.lp_epochs, learning_rate=job.hp.lp_learning_rate,
        weight_decay=job.hp.weight_decay, batch_size=job.hp.batch_size, seed=job.hp.seed,
    )
    val_features = encode_images(job.model, job.val, preprocessing=job.loaded.preprocessing, device=job.device, autocast=job.autocast)
    val = evaluate_features(val_features, job.val.labels, head) if len(job.val) else None
    metrics["linear_probe"] = {"epochs": job.hp.lp_epochs, "learning_rate": job.hp.lp_learning_rate, "val": val}
    accuracy = "n/a" if val is None else f"{val['accuracy']:.4f}"
    job.callbacks.on_event("info", f"linear probe validation accuracy {accuracy}", {"event": "linear_probe_completed", "val": val})
    return head


def _record_history(job: Job, history: History, metrics: dict, num_workers: int) -> None:
    metrics["epochs"] = history.epochs
    metrics["best"] = {"epoch": history.best_epoch, "val": history.best_val}
    seconds = history.train_seconds
    metrics["training"] = {
        "device": str(job.device),
        "precision": job.precision,
        "num_workers": num_workers,
        "resumed_from_epoch": history.resumed_from_epoch,
        "images_seen": history.images_seen,
        "train_seconds": seconds,
        "train_cpu_seconds": history.train_cpu_seconds,
        "images_per_second": history.images_seen / seconds if seconds > 0 else None,
    }


def _kept_state(job: Job, history: History, export: callable) -> tuple[dict[str, torch.Tensor], int]:
    last_epoch = job.hp.epochs
    if job.hp.selection == "last":
        return export(), last_epoch
    if history.best_epoch is None:
        job.warn("no validation images: keeping the last epoch instead of the best one")
        return export(), last_epoch
    return load_best_weights(job.work_dir), history.best_epoch
