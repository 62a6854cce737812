"""The epoch loop shared by every training method: steps, progress, evaluation, checkpoints."""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from core.models.preprocessing import Preprocessing
from core.training.batches import EpochBatches, batch_loader
from core.training.callbacks import Progress, TrainingCallbacks
from core.training.checkpoints import load_latest_checkpoint, save_best_weights, save_epoch_checkpoint
from core.training.image_cache import ImageCache
from core.training.loop import Objective, StepSettings, optimizer_step
from core.training.sampler import PairSampler
from core.training.selection import is_better

logger = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch metrics so far and the best validation epoch."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val: dict | None = None
    resumed_from_epoch: int | None = None
    images_seen: int = 0
    train_seconds: float = 0.0
    # CPU time of this process (all threads) in the training steps; steadier than wall time on a shared machine.
    train_cpu_seconds: float = 0.0


@dataclass
class EpochLoop:
    """Runs `epochs` epochs of `objective`, resuming from `work_dir` when a checkpoint matches `fingerprint`."""

    objective: Objective
    optimizer: torch.optim.Optimizer
    sampler: PairSampler
    train_cache: ImageCache
    train_labels: torch.Tensor
    preprocessing: Preprocessing
    settings: StepSettings
    epochs: int
    steps_per_epoch: int
    seed: int
    device: torch.device
    autocast: Callable[[], AbstractContextManager]
    callbacks: TrainingCallbacks
    work_dir: Path
    fingerprint: str
    num_workers: int
    selection_metric: str
    evaluate: Callable[[], dict | None]
    export_state: Callable[[], dict[str, torch.Tensor]]
    history: History = field(default_factory=History)

    def run(self) -> History:
        start_epoch = self._resume()
        for epoch in range(start_epoch + 1, self.epochs + 1):
            train_loss, learning_rate = self._train_epoch(epoch)
            self._finish_epoch(epoch, train_loss, learning_rate)
        return self.history

    def _resume(self) -> int:
        payload = load_latest_checkpoint(self.work_dir, self.fingerprint)
        if payload is None:
            return 0
        self.objective.trainable.load_state_dict(payload["trainable"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.sampler.load_state_dict(payload["sampler"])
        self.history = History(
            epochs=payload["epochs"], best_epoch=payload["best_epoch"], best_val=payload["best_val"], resumed_from_epoch=payload["epoch"]
        )
        self.callbacks.on_event(
            "info",
            f"resumed from the checkpoint of epoch {payload['epoch']} of {self.epochs}",
            {"event": "resumed", "epoch": payload["epoch"]},
        )
        logger.info("training.resumed epoch=%d work_dir=%s", payload["epoch"], self.work_dir)
        return int(payload["epoch"])

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        self.objective.trainable.train()
        first_step = (epoch - 1) * self.steps_per_epoch
        batches = [self.sampler.next_batch() for _ in range(self.steps_per_epoch)]
        dataset = EpochBatches(self.train_cache, batches, first_step=first_step, seed=self.seed, preprocessing=self.preprocessing)
        loader = batch_loader(dataset, num_workers=self.num_workers, pin_memory=self.device.type == "cuda")

        losses, learning_rate = [], 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        for index, (pixels, pairs) in enumerate(loader):
            step = first_step + index
            images = self.preprocessing.normalize(pixels.to(self.device, non_blocking=True)).contiguous(memory_format=torch.channels_last)
            image_ids = pairs[:, 0]
            labels = self.train_labels[image_ids].to(self.device, non_blocking=True)
            template_ids = pairs[:, 1].to(self.device, non_blocking=True)
            loss, learning_rate = optimizer_step(
                self.objective, self.optimizer, images=images, labels=labels, template_ids=template_ids,
                step=step, settings=self.settings, autocast=self.autocast,
            )
            losses.append(loss)
            self.history.images_seen += len(pairs)
            self._report_progress(epoch, step + 1, loss, learning_rate, time.perf_counter() - started)
        self.history.train_seconds += time.perf_counter() - started
        self.history.train_cpu_seconds += time.process_time() - cpu_started
        return sum(losses) / len(losses), learning_rate

    def _report_progress(self, epoch: int, step: int, loss: float, learning_rate: float, epoch_seconds: float) -> None:
        seconds = self.history.train_seconds + epoch_seconds
        images_per_second = self.history.images_seen / seconds if seconds > 0 else 0.0
        steps_done_here = step - (self.history.resumed_from_epoch or 0) * self.steps_per_epoch
        seconds_per_step = seconds / max(steps_done_here, 1)
        self.callbacks.on_progress(
            Progress(
                epoch=epoch,
                epochs=self.epochs,
                step=step,
                total_steps=self.settings.total_steps,
                loss=loss,
                learning_rate=learning_rate,
                images_per_second=images_per_second,
                eta_seconds=seconds_per_step * (self.settings.total_steps - step),
            )
        )

    def _finish_epoch(self, epoch: int, train_loss: float, learning_rate: float) -> None:
        val = self.evaluate()
        record = {"epoch": epoch, "train_loss": train_loss, "learning_rate": learning_rate, "logit_scale": self._logit_scale(), "val": val}
        self.history.epochs.append(record)
        if is_better(val, self.history.best_val, self.selection_metric):
            self.history.best_epoch, self.history.best_val = epoch, val
            save_best_weights(self.work_dir, self.export_state())

        accuracy = val["accuracy"] if val else None
        self.callbacks.on_event(
            "info",
            f"epoch {epoch}/{self.epochs}: train loss {train_loss:.4f}, validation accuracy {_format(accuracy)}",
            {"event": "epoch_completed", **record},
        )
        save_epoch_checkpoint(
            self.work_dir,
            epoch,
            {
                "fingerprint": self.fingerprint,
                "epoch": epoch,
                "trainable": self.objective.trainable.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.state_dict(),
                "epochs": self.history.epochs,
                "best_epoch": self.history.best_epoch,
                "best_val": self.history.best_val,
            },
        )

    def _logit_scale(self) -> float | None:
        logit_scale = getattr(self.objective.trainable, "logit_scale", None)
        return float(logit_scale.detach().exp().item()) if logit_scale is not None else None


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
