"""Shared fixtures: a small ants-and-bees dataset and one short FLYP run on it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photo_datasets import build_dataset  # noqa: E402
from training_helpers import TrainedModel, run_training  # noqa: E402

# The suite shares a 2-core machine with other work.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 training, 6 validation and 3 test photos per class."""
    return build_dataset(tmp_path_factory.mktemp("dataset"), train_per_class=12, val_per_class=6, test_per_class=3)


@pytest.fixture(scope="session")
def trained_flyp(tmp_path_factory: pytest.TempPathFactory, small_dataset: Path) -> TrainedModel:
    """Two epochs of FLYP on `small_dataset` with flyp-tiny from random weights."""
    return run_training(tmp_path_factory.mktemp("flyp"), small_dataset)
