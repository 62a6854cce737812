"""Flat state dicts that carry a CLIP model and, for cross-entropy methods, its linear head."""

from __future__ import annotations

import torch

from core.training.heads import ClassifierHead

CLIP_PREFIX = "clip."
HEAD_WEIGHT = "head.weight"
HEAD_BIAS = "head.bias"


def export_state(model: torch.nn.Module, head: ClassifierHead | None) -> dict[str, torch.Tensor]:
    """Return CPU copies of the model's state dict (keys prefixed "clip.") and of `head` if given."""
    state = {CLIP_PREFIX + name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
    if head is not None:
        state[HEAD_WEIGHT] = head.weight.detach().to("cpu", copy=True)
        state[HEAD_BIAS] = head.bias.detach().to("cpu", copy=True)
    return state


def split_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], ClassifierHead | None]:
    """Return the CLIP state dict and the linear head (None for text-head methods) of `state`."""
    clip_state = {name[len(CLIP_PREFIX) :]: tensor for name, tensor in state.items() if name.startswith(CLIP_PREFIX)}
    head = ClassifierHead(state[HEAD_WEIGHT], state[HEAD_BIAS]) if HEAD_WEIGHT in state else None
    return clip_state, head
