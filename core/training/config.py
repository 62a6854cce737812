"""What a training job asks for: the base model, the method and its hyperparameters.

These pydantic models are the request schema of `POST /v1/jobs` as well as the input of the
training loop, so validation lives in one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["flyp", "ce", "lp-ft", "zeroshot"]


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
