"""The training engine: FLYP and baseline finetuning of open_clip models, evaluation and saving."""

from core.errors import TrainingError
from core.training.callbacks import NullCallbacks, Progress, TrainingCallbacks, TrainingStopped
from core.training.config import Hyperparameters, Method, ModelSpec
from core.training.resolve import resolve_hyperparameters
from core.training.run import TrainingResult, train

__all__ = [
    "Hyperparameters",
    "Method",
    "ModelSpec",
    "NullCallbacks",
    "Progress",
    "TrainingCallbacks",
    "TrainingError",
    "TrainingResult",
    "TrainingStopped",
    "resolve_hyperparameters",
    "train",
]
