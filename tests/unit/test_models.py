"""Architectures, base-model creation and templates."""

from __future__ import annotations

from pathlib import Path

import open_clip
import pytest
import torch
from safetensors.torch import save_file

import core.models  # noqa: F401
from core.errors import InvalidRequestError, TrainingError
from core.models import create_base_model, natural_class_text, register_architectures, resolve_templates
from core.training import ModelSpec


def test_project_architectures_are_open_clip_models() -> None:
    model = open_clip.create_model("flyp-tiny")
    assert open_clip.get_model_preprocess_cfg(model)["size"] == 64


def test_register_architectures_is_idempotent() -> None:
    before = len(open_clip.factory._MODEL_CONFIG_PATHS)
    register_architectures()
    assert len(open_clip.factory._MODEL_CONFIG_PATHS) == before


def test_flyp_tiny_has_a_few_million_parameters() -> None:
    model = open_clip.create_model("flyp-tiny")
    count = sum(parameter.numel() for parameter in model.parameters())
    assert count < 15_000_000


def test_random_init_is_seeded_and_warns() -> None:
    first = create_base_model(ModelSpec(architecture="flyp-tiny"), seed=3)
    second = create_base_model(ModelSpec(architecture="flyp-tiny"), seed=3)
    assert torch.equal(first.model.text_projection, second.model.text_projection)
    assert first.weights["source"] == "random"
    assert "random weights" in first.warnings[0]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_file_is_loaded(tmp_path: Path, suffix: str) -> None:
    source = open_clip.create_model("flyp-tiny")
    with torch.no_grad():
        source.logit_scale.fill_(1.2345)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pt":
        torch.save(source.state_dict(), path)
    else:
        save_file({name: tensor.contiguous() for name, tensor in source.state_dict().items()}, str(path))

    loaded = create_base_model(ModelSpec(architecture="flyp-tiny", checkpoint=str(path)))

    assert loaded.weights == {"source": "checkpoint", "checkpoint": str(path)}
    assert torch.equal(loaded.model.visual.attnpool.c_proj.weight, source.visual.attnpool.c_proj.weight)
    assert loaded.model.logit_scale.item() == pytest.approx(1.2345)


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.pt"
    with pytest.raises(TrainingError) as raised:
        create_base_model(ModelSpec(architecture="flyp-tiny", checkpoint=str(path)))
    assert raised.value.code == "checkpoint_not_found"
    assert str(path) in raised.value.message


def test_checkpoint_of_other_architecture_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save(open_clip.create_model("flyp-small").state_dict(), path)
    with pytest.raises(TrainingError) as raised:
        create_base_model(ModelSpec(architecture="flyp-tiny", checkpoint=str(path)))
    assert raised.value.code == "invalid_checkpoint"


def test_pretrained_download_failure_is_pretrained_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A tag whose weights live on a local port where nothing listens: the download fails fast.
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, "flyp-tiny", {"localtest": {"url": "http://127.0.0.1:9/flyp-tiny.pt", "hf_hub": ""}})
    with pytest.raises(TrainingError) as raised:
        create_base_model(ModelSpec(architecture="flyp-tiny", pretrained="localtest"), cache_dir=tmp_path)
    assert raised.value.code == "pretrained_unavailable"
    assert "flyp-tiny/localtest" in raised.value.message
    assert "local checkpoint" in raised.value.message


def test_unknown_pretrained_tag_lists_known_tags() -> None:
    with pytest.raises(TrainingError) as raised:
        create_base_model(ModelSpec(architecture="RN50", pretrained="no-such-tag"))
    assert raised.value.code == "unknown_pretrained_tag"
    assert "openai" in raised.value.message


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(TrainingError) as raised:
        create_base_model(ModelSpec(architecture="no-such-model"))
    assert raised.value.code == "unknown_architecture"


def test_template_sets() -> None:
    assert resolve_templates("simple") == ["a photo of a {}."]
    assert len(resolve_templates("openai_imagenet")) == 80
    assert resolve_templates("openai_imagenet")[0] == "a bad photo of a {}."


@pytest.mark.parametrize("templates", [["no placeholder"], ["two {} and {}"], [], ["a {} with {braces}"]])
def test_invalid_custom_templates_are_rejected(templates: list[str]) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        resolve_templates(templates)
    assert raised.value.param.startswith("hyperparameters.templates")


def test_unknown_template_set_is_rejected() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        resolve_templates("imagenet_9000")
    assert raised.value.code == "unknown_template_set"


@pytest.mark.parametrize(("name", "text"), [("golden_retriever", "golden retriever"), ("t-shirt", "t shirt"), ("ants", "ants"), ("a__b", "a b")])
def test_natural_class_text(name: str, text: str) -> None:
    assert natural_class_text(name) == text
