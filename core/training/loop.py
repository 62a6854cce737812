"""One optimizer step of any method, with FLYP's schedule, clipping, clamping and NaN check."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from core.errors import TrainingError
from core.training.schedule import learning_rate_at, set_learning_rate


class Objective(Protocol):
    @property
    def trainable(self) -> torch.nn.Module: ...

    def loss(self, images: torch.Tensor, labels: torch.Tensor, template_ids: torch.Tensor) -> torch.Tensor: ...

    def clamp_logit_scale(self) -> None: ...


@dataclass(frozen=True)
class StepSettings:
    base_lr: float
    warmup_steps: int
    total_steps: int
    min_lr: float
    max_grad_norm: float | None
    clamp_logit_scale: bool

    def learning_rate(self, step: int) -> float:
        return learning_rate_at(step, base_lr=self.base_lr, warmup_steps=self.warmup_steps, total_steps=self.total_steps, min_lr=self.min_lr)


def create_optimizer(module: torch.nn.Module, *, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over every parameter, weight decay on all of them, as FLYP's reference does
    (no exclusion of biases, norms or logit_scale; betas and eps are PyTorch's defaults).

    The fused implementation computes the same update in one kernel over all parameters. For
    flyp-tiny on 2 shared vCPUs (torch 2.14) it took about 7 ms per step, the default loop 40 ms.
    """
    parameters = list(module.parameters())
    return torch.optim.AdamW(
        parameters, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay, fused=_can_fuse(parameters)
    )


def _can_fuse(parameters: list[torch.nn.Parameter]) -> bool:
    """Return True when torch's fused AdamW supports every parameter: floating point, on a CPU or CUDA device."""
    return bool(parameters) and all(parameter.is_floating_point() and parameter.device.type in ("cpu", "cuda") for parameter in parameters)


def optimizer_step(
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    *,
    images: torch.Tensor,
    labels: torch.Tensor,
    template_ids: torch.Tensor,
    step: int,
    settings: StepSettings,
    autocast: Callable[[], AbstractContextManager],
) -> tuple[float, float]:
    """Run 0-based global step `step` and return (loss, learning rate used).

    Raises TrainingError("non_finite_loss") before the update when the loss is NaN or
    infinite, so no broken weights are ever stored.
    """
    learning_rate = settings.learning_rate(step)
    set_learning_rate(optimizer, learning_rate)
    optimizer.zero_grad(set_to_none=True)

    with autocast():
        loss = objective.loss(images, labels, template_ids)
    loss_value = float(loss.item())  # a CPU-GPU sync point, needed for the check and the progress report
    if not torch.isfinite(loss).item():
        raise TrainingError(
            "non_finite_loss",
            f"the training loss became {loss_value} at step {step + 1} of {settings.total_steps}; "
            "lower the learning_rate, keep clamp_logit_scale on, or use precision fp32",
        )
    loss.backward()

    if settings.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(objective.trainable.parameters(), settings.max_grad_norm)
    optimizer.step()
    if settings.clamp_logit_scale:
        objective.clamp_logit_scale()
    return loss_value, learning_rate
