"""A short FLYP run on real photos, the model directory it writes, and serving it."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from core.errors import TrainingError
from core.inference import Classifier
from core.manifest import DatasetManifest
from core.training.heads import tokenize_captions
from photo_datasets import photo_paths
from training_helpers import TrainedModel, run_training


def val_photos(count: int) -> list[Image.Image]:
    return [Image.open(path) for path in photo_paths("val", "bees")[-count:]]


def test_model_dir_has_every_artifact(trained_flyp: TrainedModel) -> None:
    names = {path.name for path in trained_flyp.model_dir.iterdir()}
    assert names == {"open_clip_model.safetensors", "open_clip_config.json", "head.safetensors", "metadata.json", "report.png"}


def test_no_temporary_directories_are_left(trained_flyp: TrainedModel) -> None:
    leftovers = [path.name for path in trained_flyp.model_dir.parent.iterdir() if path.name.startswith(".")]
    assert leftovers == []


def test_metrics_have_baseline_epochs_and_selection(trained_flyp: TrainedModel) -> None:
    metrics = trained_flyp.result.metrics
    assert metrics["zeroshot"]["val"]["num_images"] == 12
    assert [entry["epoch"] for entry in metrics["epochs"]] == [1, 2]
    assert metrics["best"]["epoch"] in (1, 2)
    assert metrics["selected"]["test"]["num_images"] == 6


def test_metrics_are_json_ready(trained_flyp: TrainedModel) -> None:
    text = json.dumps(trained_flyp.result.metrics, allow_nan=False)
    assert json.loads(text) == trained_flyp.result.metrics


def test_progress_reports_every_step(trained_flyp: TrainedModel) -> None:
    steps = [progress.step for progress in trained_flyp.callbacks.progress]
    assert steps == list(range(1, trained_flyp.hyperparameters["total_steps"] + 1))


def test_epochs_run_ceil_n_over_batch_steps(trained_flyp: TrainedModel) -> None:
    # 24 training images with batch 8: 3 steps per epoch.
    assert trained_flyp.hyperparameters["steps_per_epoch"] == 3


def test_random_init_is_reported_as_warning(trained_flyp: TrainedModel) -> None:
    warnings = [message for level, message, _ in trained_flyp.callbacks.events if level == "warning"]
    assert any("random weights" in message for message in warnings)


def test_classify_scores_sum_to_one(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    predictions = classifier.classify(val_photos(3), top_k=2)
    for ranked in predictions:
        assert sum(score for _, score in ranked) == pytest.approx(1.0, abs=1e-5)


def test_classify_sorts_and_limits_top_k(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    ranked = classifier.classify(val_photos(1), top_k=1)[0]
    full = classifier.classify(val_photos(1), top_k=5)[0]
    assert len(ranked) == 1
    assert [label for label, _ in full] == sorted(classifier.classes, key=lambda label: -dict(full)[label])
    assert ranked[0] == full[0]


def test_classify_is_repeatable(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    image = val_photos(1)
    results = [classifier.classify(image, top_k=2) for _ in range(5)]
    assert all(result == results[0] for result in results)


def test_classify_matches_validation_metrics(trained_flyp: TrainedModel, small_dataset: Path) -> None:
    """Serving and evaluation agree: accuracy of classify on the val photos equals the stored metric."""
    classifier = Classifier.load(trained_flyp.model_dir)
    items = DatasetManifest.load(small_dataset).split("val")
    images = [Image.open(small_dataset / item.path) for item in items]

    predicted = [ranked[0][0] for ranked in classifier.classify(images, top_k=1)]

    correct = sum(label == classifier.classes[item.label] for label, item in zip(predicted, items))
    assert correct / len(items) == pytest.approx(trained_flyp.result.metrics["selected"]["val"]["accuracy"])


def test_plain_open_clip_loads_the_weights(trained_flyp: TrainedModel) -> None:
    model = open_clip.create_model("flyp-tiny")
    model.load_state_dict(load_file(str(trained_flyp.model_dir / "open_clip_model.safetensors")))
    model.eval()
    classifier = Classifier.load(trained_flyp.model_dir)
    pixels = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        expected = model.encode_image(pixels)
        served = classifier.model.encode_image(pixels)
    torch.testing.assert_close(served, expected)


def test_head_file_matches_zeroshot_formula(trained_flyp: TrainedModel) -> None:
    head = load_file(str(trained_flyp.model_dir / "head.safetensors"))
    model = open_clip.create_model("flyp-tiny")
    model.load_state_dict(load_file(str(trained_flyp.model_dir / "open_clip_model.safetensors")))
    model.eval()
    tokens = tokenize_captions(open_clip.get_tokenizer("flyp-tiny"), ["a photo of a {}."], ["ants", "bees"])
    with torch.no_grad():
        text = model.encode_text(tokens)
    expected = text / text.norm(dim=-1, keepdim=True)  # one template: normalise, average, normalise
    torch.testing.assert_close(head["class_embeddings"], expected)
    torch.testing.assert_close(head["weight"], head["logit_scale"].exp() * head["class_embeddings"])


def test_metadata_describes_the_model(trained_flyp: TrainedModel) -> None:
    metadata = json.loads((trained_flyp.model_dir / "metadata.json").read_text())
    assert metadata["architecture"] == "flyp-tiny"
    assert metadata["method"] == "flyp"
    assert metadata["classes"] == [{"name": "ants", "display_name": "ants"}, {"name": "bees", "display_name": "bees"}]
    assert metadata["templates"] == ["a photo of a {}."]
    assert metadata["preprocessing"]["size"] == 64
    assert metadata["library_versions"]["open_clip"] == open_clip.__version__
    assert len(metadata["dataset_hash"]) == 64


def test_same_seed_gives_same_weights(tmp_path: Path, small_dataset: Path, trained_flyp: TrainedModel) -> None:
    again = run_training(tmp_path, small_dataset)
    first = load_file(str(trained_flyp.model_dir / "open_clip_model.safetensors"))
    second = load_file(str(again.model_dir / "open_clip_model.safetensors"))
    different = [name for name in first if not torch.equal(first[name], second[name])]
    assert different == []


def test_non_finite_loss_fails_with_the_step(tmp_path: Path, small_dataset: Path) -> None:
    model = open_clip.create_model("flyp-tiny")
    with torch.no_grad():
        model.logit_scale.fill_(float("nan"))
    checkpoint = tmp_path / "nan.pt"
    torch.save(model.state_dict(), checkpoint)

    with pytest.raises(TrainingError) as raised:
        run_training(tmp_path, small_dataset, checkpoint=str(checkpoint), epochs=1)

    assert raised.value.code == "non_finite_loss"
    assert "step 1 of 3" in raised.value.message
    assert not (tmp_path / "model").exists()
