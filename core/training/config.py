"""What a training job asks for: the base model, the method and its hyperparameters.

These pydantic models are the request schema of `POST /v1/jobs` as well as the input of the
training loop, so validation lives in one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["flyp", "ce", "lp-ft", "zeroshot"]
METHODS: tuple[str, ...] = ("flyp", "ce", "lp-ft", "zeroshot")
Precision = Literal["auto", "bf16", "fp32", "fp16"]


class ModelSpec(BaseModel):
    """The model to start from: an open_clip architecture with a pretrained tag or a local checkpoint."""

    model_config = ConfigDict(extra="forbid")

    architecture: str = Field(..., min_length=1, max_length=200, examples=["ViT-B-32", "flyp-tiny"])
    pretrained: str | None = Field(None, max_length=200, examples=["openai"])
    checkpoint: str | None = Field(None, max_length=4096, description="Path of a local checkpoint file on the worker.")

    @model_validator(mode="after")
    def _one_weight_source(self) -> "ModelSpec":
        if self.pretrained and self.checkpoint:
            raise ValueError("give either 'pretrained' or 'checkpoint', not both")
        return self


class Hyperparameters(BaseModel):
    """Training settings. Fields left out get defaults that `resolve` scales to the dataset."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(256, ge=2, le=16384)
    learning_rate: float = Field(1e-5, gt=0, le=1)
    weight_decay: float = Field(0.1, ge=0, le=10)
    warmup_steps: int | None = Field(None, ge=0, le=1_000_000, description="Default: 500, capped at 10% of all steps.")
    min_lr: float = Field(0.0, ge=0, le=1)
    templates: str | list[str] = Field("openai_imagenet", description="A template set name or a list of templates with one '{}'.")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    class_names: dict[str, str] | None = Field(
        None, description="Display names by class name; they fill the templates and are the labels classify returns."
    )
    precision: Precision = Field(
        "auto",
        description="auto: bf16 autocast on CUDA, fp32 on CPU. bf16: fp32 weights with bf16 autocast (CUDA only). "
        "fp32: no autocast. fp16 is rejected because pure fp16 weights with AdamW produce NaN.",
    )
    clamp_logit_scale: bool = Field(
        True, description="Clamp logit_scale to [0, ln(100)] after each step as open_clip's training does; off matches the FLYP reference."
    )
    loss: Literal["clip", "label_aware"] = Field(
        "clip", description="clip: open_clip's ClipLoss. label_aware: same-class pairs in a batch are not counted as negatives."
    )
    selection: Literal["best", "last"] = Field("best", description="Keep the best validation epoch or the last one.")
    selection_metric: Literal["accuracy", "macro_f1", "loss"] = Field("accuracy", description="Validation metric that picks the best epoch and WiSE-FT alpha.")
    wise_ft_alphas: list[float] | None = Field(
        None, description="WiSE-FT mixing weights to evaluate (0 = zero-shot, 1 = finetuned). Default: 0, 0.1, ..., 1. [1.0] turns WiSE-FT off."
    )
    max_grad_norm: float | None = Field(None, gt=0, description="Gradient clipping norm. Default: none for flyp, 1.0 for ce and lp-ft.")
    lp_epochs: int | None = Field(None, ge=1, le=1000, description="lp-ft only: epochs of the linear-probe stage. Default: 10.")
    lp_learning_rate: float | None = Field(None, gt=0, le=1, description="lp-ft only: learning rate of the linear-probe stage. Default: 1e-3.")
    num_workers: int | None = Field(
        None, ge=0, le=64, description="Data-loading processes. Default: 0 on CPU, up to 4 on CUDA; 0 inside daemon processes such as Celery workers."
    )
