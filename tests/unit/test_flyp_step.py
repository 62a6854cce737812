"""FLYP's optimizer step against a hand-written reference: ClipLoss, AdamW and the schedule."""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext

import open_clip
import pytest
import torch
import torch.nn.functional as F

import core.models  # noqa: F401
from core.training.heads import tokenize_captions
from core.training.loop import StepSettings, create_optimizer, optimizer_step
from core.training.objectives import FlypObjective, encode_captions

TEMPLATES = ["a photo of a {}.", "a close-up picture of the {}, seen from far away."]
CLASS_TEXTS = ["ants", "honey bees"]
# Duplicate captions: (label 0, template 0) three times and (label 1, template 1) twice.
LABELS = torch.tensor([0, 0, 1, 1, 0, 1])
TEMPLATE_IDS = torch.tensor([0, 0, 1, 0, 0, 1])
SETTINGS = StepSettings(base_lr=1e-3, warmup_steps=2, total_steps=5, min_lr=1e-5, max_grad_norm=None, clamp_logit_scale=False)
WEIGHT_DECAY = 0.1
BETAS = (0.9, 0.999)
EPS = 1e-8


def reference_learning_rate(step: int) -> float:
    if step < SETTINGS.warmup_steps:
        return SETTINGS.base_lr * (step + 1) / SETTINGS.warmup_steps
    progress = (step - SETTINGS.warmup_steps) / (SETTINGS.total_steps - SETTINGS.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * progress)) * SETTINGS.base_lr + SETTINGS.min_lr


def reference_loss(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE written out: every row's caption encoded on its own row."""
    image_features = model.encode_image(images)
    text_features = model.encode_text(tokens)
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    logits = model.logit_scale.exp() * image_features @ text_features.T
    targets = torch.arange(len(images))
    image_to_text = -F.log_softmax(logits, dim=1)[targets, targets].mean()
    text_to_image = -F.log_softmax(logits, dim=0)[targets, targets].mean()
    return 0.5 * (image_to_text + text_to_image)


class ReferenceAdamW:
    """AdamW with decoupled weight decay on every parameter, written out."""

    def __init__(self, parameters: list[torch.nn.Parameter]) -> None:
        self.parameters = parameters
        self.first = [torch.zeros_like(parameter) for parameter in parameters]
        self.second = [torch.zeros_like(parameter) for parameter in parameters]
        self.steps = 0

    @torch.no_grad()
    def step(self, learning_rate: float) -> None:
        self.steps += 1
        for parameter, first, second in zip(self.parameters, self.first, self.second):
            gradient = parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
            parameter.mul_(1 - learning_rate * WEIGHT_DECAY)
            first.mul_(BETAS[0]).add_((1 - BETAS[0]) * gradient)
            second.mul_(BETAS[1]).add_((1 - BETAS[1]) * gradient * gradient)
            first_hat = first / (1 - BETAS[0] ** self.steps)
            second_hat = second / (1 - BETAS[1] ** self.steps)
            parameter.sub_(learning_rate * first_hat / (second_hat.sqrt() + EPS))


@pytest.fixture()
def setup() -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """Both models in float64: Adam divides by sqrt(v), so in float32 the rounding noise between
    two equivalent computations can visibly move elements whose gradient is close to zero."""
    torch.manual_seed(0)
    model = open_clip.create_model("flyp-tiny").double()
    reference = copy.deepcopy(model)
    caption_tokens = tokenize_captions(open_clip.get_tokenizer("flyp-tiny"), TEMPLATES, CLASS_TEXTS)
    images = torch.randn(len(LABELS), 3, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return model, reference, caption_tokens, images


def run_steps(count: int, setup: tuple) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor]:
    model, reference, caption_tokens, images = setup
    objective = FlypObjective(model, caption_tokens, num_templates=len(TEMPLATES), num_classes=len(CLASS_TEXTS))
    optimizer = create_optimizer(model, learning_rate=SETTINGS.base_lr, weight_decay=WEIGHT_DECAY)
    reference_optimizer = ReferenceAdamW(list(reference.parameters()))
    row_tokens = caption_tokens[LABELS * len(TEMPLATES) + TEMPLATE_IDS]
    model.train()
    reference.train()

    for step in range(count):
        optimizer_step(objective, optimizer, images=images, labels=LABELS, template_ids=TEMPLATE_IDS, step=step, settings=SETTINGS, autocast=nullcontext)
        reference.zero_grad(set_to_none=True)
        reference_loss(reference, images, row_tokens).backward()
        reference_optimizer.step(reference_learning_rate(step))
    return model, reference, row_tokens


# The key bias of self-attention adds q . b_k to every logit of a query's softmax row, which
# the softmax ignores, so its true gradient is zero and its computed gradient is rounding noise
# (about 1e-17 here). AdamW turns that noise into updates of up to lr * noise / eps. Two
# equivalent orders of summation, the fused AdamW and the written-out one, then differ by about
# 1e-11 there, so that slice gets a looser absolute tolerance.
KEY_BIAS_ATOL = 1e-10


def assert_same_parameters(model: torch.nn.Module, reference: torch.nn.Module) -> None:
    for (name, ours), (_, theirs) in zip(model.named_parameters(), reference.named_parameters()):
        if name.endswith("attn.in_proj_bias"):
            width = ours.shape[0] // 3
            key_bias = slice(width, 2 * width)
            torch.testing.assert_close(ours[key_bias], theirs[key_bias], rtol=0, atol=KEY_BIAS_ATOL, msg=lambda message, name=name: f"{name} key bias: {message}")
            ours, theirs = torch.cat([ours[:width], ours[2 * width :]]), torch.cat([theirs[:width], theirs[2 * width :]])
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-11, msg=lambda message, name=name: f"{name}: {message}")


def test_loss_equals_written_out_formula(setup: tuple) -> None:
    model, reference, caption_tokens, images = setup
    objective = FlypObjective(model, caption_tokens, num_templates=len(TEMPLATES), num_classes=len(CLASS_TEXTS))
    row_tokens = caption_tokens[LABELS * len(TEMPLATES) + TEMPLATE_IDS]
    model.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(objective.loss(images, LABELS, TEMPLATE_IDS), reference_loss(reference, images, row_tokens))


def test_one_step_equals_reference(setup: tuple) -> None:
    model, reference, _ = run_steps(1, setup)
    assert_same_parameters(model, reference)


def test_three_steps_equal_reference(setup: tuple) -> None:
    model, reference, _ = run_steps(3, setup)
    assert_same_parameters(model, reference)


def test_positions_after_last_eot_get_zero_gradient(setup: tuple) -> None:
    """Under the causal mask, positional-embedding rows after the last end-of-text token never reach the output."""
    initial = setup[0].positional_embedding.detach().clone()
    model, _, row_tokens = run_steps(1, setup)
    last_eot = int(row_tokens.argmax(dim=1).max())

    unused_gradient = model.positional_embedding.grad[last_eot + 1 :]
    used_gradient = model.positional_embedding.grad[: last_eot + 1]

    assert torch.count_nonzero(unused_gradient) == 0
    assert torch.count_nonzero(used_gradient) > 0
    # With a zero gradient AdamW only applies the decoupled weight decay to those rows.
    decayed = initial[last_eot + 1 :] * (1 - reference_learning_rate(0) * WEIGHT_DECAY)
    torch.testing.assert_close(model.positional_embedding.detach()[last_eot + 1 :], decayed)


def test_distinct_caption_encoding_matches_plain(setup: tuple) -> None:
    model, reference, caption_tokens, _ = setup
    caption_ids = LABELS * len(TEMPLATES) + TEMPLATE_IDS
    weights = torch.randn(len(LABELS), model.text_projection.shape[1], generator=torch.Generator().manual_seed(2))

    gathered = encode_captions(model, caption_tokens, caption_ids)
    (gathered * weights).sum().backward()
    plain = reference.encode_text(caption_tokens[caption_ids], normalize=True)
    (plain * weights).sum().backward()

    torch.testing.assert_close(gathered, plain)
    for (name, ours), (_, theirs) in zip(model.named_parameters(), reference.named_parameters()):
        if ours.grad is None and theirs.grad is None:
            continue
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-9, atol=1e-12, msg=lambda message, name=name: f"{name}: {message}")
