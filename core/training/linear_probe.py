"""The linear-probe stage of LP-FT: train only a linear head on frozen image features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.training.heads import ClassifierHead


def train_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    initial_head: ClassifierHead,
    *,
    epochs: int,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
) -> ClassifierHead:
    """Return a head trained with cross-entropy and AdamW on fixed `features` (N, D).

    The head starts from `initial_head` (the zero-shot head), so the probe only has to correct it.
    Features are computed once with the evaluation transform, which makes this stage cheap.
    """
    weight = initial_head.weight.detach().clone().float().cpu().requires_grad_(True)
    bias = initial_head.bias.detach().clone().float().cpu().requires_grad_(True)
    optimizer = torch.optim.AdamW([weight, bias], lr=learning_rate, weight_decay=weight_decay)
    inputs = F.normalize(features.float(), dim=-1)
    generator = torch.Generator().manual_seed(seed)

    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(inputs[batch] @ weight.T + bias, labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return ClassifierHead(weight=weight.detach(), bias=bias.detach())
