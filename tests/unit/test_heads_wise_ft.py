"""The zero-shot head against its formula, and WiSE-FT at both ends of the alpha range."""

from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

import core.models  # noqa: F401
from core.training.heads import text_head, tokenize_captions, zeroshot_class_embeddings
from core.training.states import export_state
from core.training.wise_ft import interpolate_state

TEMPLATES = ["a photo of a {}.", "a blurry photo of the {}.", "a drawing of a {}."]
CLASS_TEXTS = ["ants", "honey bees", "wasps"]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return open_clip.create_model("flyp-tiny").eval()


@pytest.fixture(scope="module")
def caption_tokens() -> torch.Tensor:
    return tokenize_captions(open_clip.get_tokenizer("flyp-tiny"), TEMPLATES, CLASS_TEXTS)


def test_zeroshot_head_equals_formula(model: torch.nn.Module, caption_tokens: torch.Tensor) -> None:
    """Per class: normalise each template's text embedding, average them, normalise again."""
    expected = []
    with torch.no_grad():
        for text in CLASS_TEXTS:
            tokens = open_clip.get_tokenizer("flyp-tiny")([template.format(text) for template in TEMPLATES])
            embeddings = model.encode_text(tokens)
            embeddings = embeddings / embeddings.norm(dim=-1, keepdim=True)
            mean = embeddings.mean(dim=0)
            expected.append(mean / mean.norm())
    expected = torch.stack(expected)

    embeddings = zeroshot_class_embeddings(model, caption_tokens, num_classes=len(CLASS_TEXTS), device=torch.device("cpu"))

    torch.testing.assert_close(embeddings, expected)


def test_text_head_logits_equal_clip_logits(model: torch.nn.Module, caption_tokens: torch.Tensor) -> None:
    """Head logits are exp(logit_scale) * normalize(image_features) @ class_embeddings.T, with zero bias."""
    head = text_head(model, caption_tokens, num_classes=len(CLASS_TEXTS), device=torch.device("cpu"))
    embeddings = zeroshot_class_embeddings(model, caption_tokens, num_classes=len(CLASS_TEXTS), device=torch.device("cpu"))
    image_features = torch.randn(4, embeddings.shape[1], generator=torch.Generator().manual_seed(3))

    expected = model.logit_scale.detach().exp() * F.normalize(image_features, dim=-1) @ embeddings.T

    torch.testing.assert_close(head.logits(image_features), expected)
    assert torch.count_nonzero(head.bias) == 0


@pytest.fixture(scope="module")
def zeroshot_and_finetuned(model: torch.nn.Module) -> tuple[dict, dict]:
    """The model's state and a perturbed copy standing in for the finetuned weights, logit_scale included."""
    zeroshot = export_state(model, None)
    generator = torch.Generator().manual_seed(4)
    finetuned = {
        name: tensor + 0.01 * torch.randn(tensor.shape, generator=generator) if tensor.is_floating_point() else tensor.clone()
        for name, tensor in zeroshot.items()
    }
    return zeroshot, finetuned


def test_wise_ft_alpha_zero_is_zeroshot(zeroshot_and_finetuned: tuple[dict, dict]) -> None:
    zeroshot, finetuned = zeroshot_and_finetuned
    mixed = interpolate_state(zeroshot, finetuned, 0.0)
    different = [name for name in zeroshot if not torch.equal(mixed[name], zeroshot[name])]
    assert different == []


def test_wise_ft_alpha_one_is_finetuned(zeroshot_and_finetuned: tuple[dict, dict]) -> None:
    zeroshot, finetuned = zeroshot_and_finetuned
    mixed = interpolate_state(zeroshot, finetuned, 1.0)
    different = [name for name in finetuned if not torch.equal(mixed[name], finetuned[name])]
    assert different == []


def test_wise_ft_mixes_both_towers_and_logit_scale(zeroshot_and_finetuned: tuple[dict, dict]) -> None:
    zeroshot, finetuned = zeroshot_and_finetuned
    mixed = interpolate_state(zeroshot, finetuned, 0.3)
    for name in ("clip.logit_scale", "clip.text_projection", "clip.visual.attnpool.c_proj.weight"):
        torch.testing.assert_close(mixed[name], 0.7 * zeroshot[name] + 0.3 * finetuned[name], msg=lambda message, name=name: f"{name}: {message}")
