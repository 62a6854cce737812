"""Filling in hyperparameters for a dataset."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequestError
from core.training import Hyperparameters, resolve_hyperparameters


def resolve(method: str = "flyp", num_train_images: int = 1000, num_classes: int = 2, **fields: object) -> tuple[dict, list[str]]:
    return resolve_hyperparameters(Hyperparameters(**fields), method=method, num_train_images=num_train_images, num_classes=num_classes)


def test_batch_size_is_clamped_to_training_images() -> None:
    resolved, warnings = resolve(num_train_images=3, batch_size=64)
    assert resolved["batch_size"] == 3
    assert any("batch_size 64" in warning for warning in warnings)


def test_steps_keep_the_last_partial_batch() -> None:
    resolved, _ = resolve(num_train_images=65, batch_size=64, epochs=3)
    assert resolved["steps_per_epoch"] == 2
    assert resolved["total_steps"] == 6


def test_default_warmup_is_scaled_down_for_small_datasets() -> None:
    resolved, warnings = resolve(num_train_images=1000, batch_size=100, epochs=10)
    assert resolved["warmup_steps"] == 10
    assert any("warmup_steps scaled down" in warning for warning in warnings)


def test_default_warmup_is_500_for_large_datasets() -> None:
    resolved, warnings = resolve(num_train_images=100_000, batch_size=100, epochs=10)
    assert resolved["warmup_steps"] == 500
    assert warnings == []


def test_explicit_warmup_is_kept() -> None:
    resolved, _ = resolve(num_train_images=100, batch_size=10, warmup_steps=7)
    assert resolved["warmup_steps"] == 7


def test_method_defaults_for_gradient_clipping() -> None:
    assert resolve(method="flyp")[0]["max_grad_norm"] is None
    assert resolve(method="ce")[0]["max_grad_norm"] == 1.0


def test_zeroshot_method_has_no_steps() -> None:
    resolved, warnings = resolve(method="zeroshot", num_train_images=0)
    assert resolved["total_steps"] == 0
    assert warnings == []


def test_default_wise_ft_alphas() -> None:
    resolved, _ = resolve()
    assert resolved["wise_ft_alphas"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def test_resolved_dict_echoes_template_count() -> None:
    resolved, _ = resolve(templates="openai_imagenet")
    assert resolved["num_templates"] == 80


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"num_classes": 1}, "dataset_id"),
        ({"num_train_images": 1}, "dataset_id"),
        ({"method": "sgd"}, "method"),
        ({"templates": "nope"}, "hyperparameters.templates"),
        ({"templates": ["a photo"]}, "hyperparameters.templates[0]"),
        ({"precision": "fp16"}, "hyperparameters.precision"),
        ({"wise_ft_alphas": [1.5]}, "hyperparameters.wise_ft_alphas"),
    ],
)
def test_impossible_requests_name_the_field(arguments: dict, param: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        resolve(**arguments)
    assert raised.value.param == param
