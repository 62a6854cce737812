"""Creation of the base model of a job from a ModelSpec: pretrained tag, local checkpoint or random."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import open_clip
import torch

from core.errors import TrainingError
from core.models.preprocessing import Preprocessing

if TYPE_CHECKING:
    # Imported for the annotation only: core.training imports this module.
    from core.training.config import ModelSpec

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """An open_clip CLIP model with its tokenizer, preprocessing and where its weights came from."""

    model: torch.nn.Module
    tokenizer: Callable[[list[str]], torch.Tensor]
    preprocessing: Preprocessing
    weights: dict
    warnings: list[str] = field(default_factory=list)


def create_base_model(spec: ModelSpec, *, cache_dir: Path | None = None, seed: int = 0) -> LoadedModel:
    """Build the model `spec` names on the CPU in fp32.

    Without `pretrained` or `checkpoint` the weights are random, drawn from `seed`, and the
    result carries a warning saying so.
    """
    _check_architecture(spec.architecture)
    if spec.pretrained:
        model = _create_pretrained(spec.architecture, spec.pretrained, cache_dir)
        weights = {"source": "pretrained", "pretrained": spec.pretrained}
        warnings = []
    elif spec.checkpoint:
        model = _create_from_checkpoint(spec.architecture, Path(spec.checkpoint))
        weights = {"source": "checkpoint", "checkpoint": spec.checkpoint}
        warnings = []
    else:
        model = _create_random(spec.architecture, seed)
        weights = {"source": "random", "seed": seed}
        warnings = [f"no pretrained tag or checkpoint given: {spec.architecture} starts from random weights (seed {seed})"]

    _check_clip_interface(model, spec.architecture)
    tokenizer = open_clip.get_tokenizer(spec.architecture)
    return LoadedModel(model=model, tokenizer=tokenizer, preprocessing=Preprocessing.from_model(model), weights=weights, warnings=warnings)


def _check_architecture(architecture: str) -> None:
    if architecture.startswith(("hf-hub:", "local-dir:")) or architecture in open_clip.list_models():
        return
    raise TrainingError(
        "unknown_architecture",
        f"unknown architecture {architecture!r}; use an open_clip model name such as 'ViT-B-32' or 'flyp-tiny'",
    )


def _create_pretrained(architecture: str, tag: str, cache_dir: Path | None) -> torch.nn.Module:
    if not architecture.startswith(("hf-hub:", "local-dir:")) and not open_clip.pretrained.get_pretrained_cfg(architecture, tag):
        tags = open_clip.list_pretrained_tags_by_model(architecture)
        raise TrainingError(
            "unknown_pretrained_tag",
            f"{architecture} has no pretrained tag {tag!r}; known tags: {', '.join(tags) or 'none'}. "
            "Use one of them or give a local checkpoint file instead.",
        )
    try:
        return open_clip.create_model(architecture, pretrained=tag, cache_dir=str(cache_dir) if cache_dir else None)
    except (RuntimeError, OSError, ValueError) as error:
        logger.warning("models.pretrained_failed architecture=%s tag=%s error=%s", architecture, tag, error)
        raise TrainingError(
            "pretrained_unavailable",
            f"could not download the pretrained weights {architecture}/{tag}: {error}. "
            "Check the network access of the process that loads the model (the worker for a job, the API for a "
            "base model's classify) to the model hub, or put the weights on that machine and give them as a "
            "local checkpoint file instead.",
        ) from error


def _create_from_checkpoint(architecture: str, path: Path) -> torch.nn.Module:
    if not path.is_file():
        raise TrainingError("checkpoint_not_found", f"checkpoint file {str(path)!r} was not found on the worker")
    try:
        # A file path as `pretrained` goes through open_clip's load_checkpoint, which reads
        # safetensors and torch.save files, converts known formats and loads strictly.
        return open_clip.create_model(architecture, pretrained=str(path))
    # open_clip reports some shape mismatches with assert statements.
    except (RuntimeError, OSError, ValueError, KeyError, AssertionError) as error:
        raise TrainingError(
            "invalid_checkpoint",
            f"checkpoint {str(path)!r} does not fit architecture {architecture}: {error}",
        ) from error


def _create_random(architecture: str, seed: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return open_clip.create_model(architecture)


def _check_clip_interface(model: torch.nn.Module, architecture: str) -> None:
    required = ("encode_image", "encode_text", "logit_scale")
    if not all(hasattr(model, name) for name in required) or type(model).__name__ == "CoCa":
        raise TrainingError("unsupported_model", f"{architecture} is not a two-tower CLIP model; FLYP needs encode_image, encode_text and logit_scale")
