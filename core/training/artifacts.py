"""Writing a finished model directory: weights, head, metadata and report, all or nothing.

Layout of a model directory:

- `open_clip_model.safetensors`: the full open_clip state_dict. Plain open_clip loads it with
  `create_model(architecture)` plus `load_state_dict`, or with `create_model("local-dir:DIR")`.
- `open_clip_config.json`: open_clip's model and preprocess config, for the `local-dir:` schema.
- `head.safetensors`: `weight` (C, D) and `bias` (C,), so that
  logits = normalize(image_features) @ weight.T + bias. For text heads (flyp, zeroshot) it also
  holds `class_embeddings` (the unit-length zero-shot head) and `logit_scale`, with
  weight = exp(logit_scale) * class_embeddings.
- `metadata.json`: everything else (classes, templates, method, metrics, versions).
- `report.png`: the training report.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy
import open_clip
import safetensors
import torch
import torchvision
from safetensors.torch import save_file

from core.manifest import write_json_atomic
from core.training.checkpoints import to_saveable
from core.training.heads import ClassifierHead

WEIGHTS_FILE = "open_clip_model.safetensors"
OPEN_CLIP_CONFIG_FILE = "open_clip_config.json"
HEAD_FILE = "head.safetensors"
METADATA_FILE = "metadata.json"
REPORT_FILE = "report.png"
FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "open_clip": open_clip.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
    }


def write_model_dir(
    model_dir: Path,
    *,
    state_dict: dict[str, torch.Tensor],
    head: ClassifierHead,
    class_embeddings: torch.Tensor | None,
    logit_scale: torch.Tensor | None,
    metadata: dict,
    open_clip_config: dict,
    write_report: callable,
) -> None:
    """Build the model directory beside `model_dir` and rename it into place.

    Raises FileExistsError if `model_dir` already exists, so a finished model is never replaced.
    """
    if model_dir.exists():
        raise FileExistsError(f"model directory {model_dir} already exists")
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        save_file(to_saveable(state_dict), str(temporary / WEIGHTS_FILE))
        save_file(to_saveable(_head_tensors(head, class_embeddings, logit_scale)), str(temporary / HEAD_FILE))
        write_json_atomic(temporary / OPEN_CLIP_CONFIG_FILE, open_clip_config)
        write_json_atomic(temporary / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata})
        write_report(temporary / REPORT_FILE)
        os.replace(temporary, model_dir)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _head_tensors(head: ClassifierHead, class_embeddings: torch.Tensor | None, logit_scale: torch.Tensor | None) -> dict[str, torch.Tensor]:
    tensors = {"weight": head.weight.float(), "bias": head.bias.float()}
    if class_embeddings is not None and logit_scale is not None:
        tensors["class_embeddings"] = class_embeddings.float()
        tensors["logit_scale"] = logit_scale.detach().float().reshape(())
    return tensors
