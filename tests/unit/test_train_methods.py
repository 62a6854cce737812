"""Every method end to end on real ants and bees photos: it beats chance, and a seed fixes the weights.

flyp-tiny starts from random weights here, so its zero-shot accuracy is near chance. The
zeroshot method is therefore run on the weights a FLYP job saved, which is how a user would
evaluate a finetuned checkpoint without training it further.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from photo_datasets import build_dataset
from training_helpers import TrainedModel, run_training

CHANCE = 0.5  # two balanced classes
# Settings with which each method learns something from random weights in a few seconds.
METHOD_SETTINGS = {
    "flyp": {"epochs": 6, "batch_size": 8, "learning_rate": 3e-4, "templates": "openai_imagenet", "warmup_steps": 2},
    "ce": {"epochs": 6, "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 2},
    "lp-ft": {"epochs": 6, "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 2},
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 training and 20 validation photos per class."""
    return build_dataset(tmp_path_factory.mktemp("methods-dataset"), train_per_class=24, val_per_class=20)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> dict[str, TrainedModel]:
    runs = {method: run_training(tmp_path_factory.mktemp(method), photos, method=method, **settings) for method, settings in METHOD_SETTINGS.items()}
    flyp_weights = runs["flyp"].model_dir / "open_clip_model.safetensors"
    runs["zeroshot"] = run_training(
        tmp_path_factory.mktemp("zeroshot"), photos, method="zeroshot", checkpoint=str(flyp_weights), templates="openai_imagenet"
    )
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("method", ["flyp", "ce", "lp-ft", "zeroshot"])
def test_method_beats_chance_on_validation(trained: dict[str, TrainedModel], method: str) -> None:
    selected = trained[method].result.metrics["selected"]["val"]
    assert selected["num_images"] == 40
    assert selected["accuracy"] > CHANCE, f"{method}: validation accuracy {selected['accuracy']}"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["flyp", "ce", "lp-ft"])
def test_method_reports_epochs_and_wise_ft(trained: dict[str, TrainedModel], method: str) -> None:
    metrics = trained[method].result.metrics
    assert len(metrics["epochs"]) == METHOD_SETTINGS[method]["epochs"]
    assert metrics["zeroshot"]["val"]["num_images"] == 40
    assert len(metrics["wise_ft"]["curve"]) == 11
    assert metrics["selected"]["wise_ft_alpha"] == metrics["wise_ft"]["selected_alpha"]
    assert (trained[method].model_dir / "report.png").is_file()


@pytest.mark.slow
def test_zeroshot_of_saved_flyp_model_matches_its_metrics(trained: dict[str, TrainedModel]) -> None:
    """The saved FLYP model, evaluated again as a zero-shot model, gives the accuracy its job reported."""
    zeroshot = trained["zeroshot"].result.metrics
    assert zeroshot["selected"]["val"]["accuracy"] == trained["flyp"].result.metrics["selected"]["val"]["accuracy"]
    assert "epochs" not in zeroshot
    assert zeroshot["selected"]["wise_ft_alpha"] is None


@pytest.fixture(scope="module")
def trained_lp_ft_short(tmp_path_factory: pytest.TempPathFactory, small_dataset: Path) -> TrainedModel:
    return run_training(tmp_path_factory.mktemp("lp-ft-short"), small_dataset, method="lp-ft", epochs=1)


def test_lp_ft_records_linear_probe(trained_lp_ft_short: TrainedModel) -> None:
    probe = trained_lp_ft_short.result.metrics["linear_probe"]
    assert probe["epochs"] == 10
    assert probe["val"]["num_images"] == 12


@pytest.mark.parametrize("method", ["ce", "lp-ft"])
def test_same_seed_gives_same_weights(tmp_path: Path, small_dataset: Path, method: str) -> None:
    first = run_training(tmp_path / "first", small_dataset, method=method, epochs=1)
    second = run_training(tmp_path / "second", small_dataset, method=method, epochs=1)
    for name in ("open_clip_model.safetensors", "head.safetensors"):
        weights, again = load_file(str(first.model_dir / name)), load_file(str(second.model_dir / name))
        different = [key for key in weights if not torch.equal(weights[key], again[key])]
        assert different == [], f"{method} {name}: {different[:5]}"
