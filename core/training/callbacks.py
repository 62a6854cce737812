"""How a running training reports back: progress after every step, events, and cancellation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TrainingStopped(Exception):
    """Raised by a callback to stop training, for example when the job was cancelled.

    `train()` lets it propagate and writes no model.
    """


@dataclass
class Progress:
    """Where a training run stands after an optimizer step."""

    epoch: int  # 1-based
    epochs: int
    step: int  # optimizer steps done, 1-based, counted over all epochs
    total_steps: int
    loss: float
    learning_rate: float
    images_per_second: float
    eta_seconds: float


class TrainingCallbacks(Protocol):
    def on_progress(self, progress: Progress) -> None:
        """Receive progress after every optimizer step; may raise TrainingStopped."""

    def on_event(self, level: str, message: str, data: dict) -> None:
        """Receive an "info" or "warning" event such as metrics, a warning or the selection."""


class NullCallbacks:
    """Callbacks that ignore everything, for callers that do not track progress."""

    def on_progress(self, progress: Progress) -> None:
        return None

    def on_event(self, level: str, message: str, data: dict) -> None:
        return None
