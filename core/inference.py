"""Serving a finished model: one image forward pass and one matrix product per batch."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file

import core.models  # noqa: F401  registers the project's architectures with open_clip
from core.errors import InvalidRequestError
from core.models.preprocessing import Preprocessing
from core.training.artifacts import HEAD_FILE, METADATA_FILE
from core.training.heads import ClassifierHead
from core.training.precision import resolve_device

logger = logging.getLogger(__name__)


class Classifier:
    """A model directory loaded for classification; the class embeddings are precomputed."""

    def __init__(self, model: torch.nn.Module, head: ClassifierHead, preprocessing: Preprocessing, classes: list[str], metadata: dict) -> None:
        self.model = model
        self.head = head
        self.preprocessing = preprocessing
        self.classes = classes
        self.metadata = metadata

    @classmethod
    def load(cls, model_dir: Path, *, device: str = "cpu") -> "Classifier":
        """Load weights, head and preprocessing from a directory train() wrote."""
        resolved = resolve_device(device)
        metadata = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
        # The local-dir schema reads open_clip_config.json and open_clip_model.safetensors.
        model = open_clip.create_model(f"local-dir:{model_dir}", device=resolved)
        model.eval()
        head_tensors = load_file(str(model_dir / HEAD_FILE), device=str(resolved))
        head = ClassifierHead(weight=head_tensors["weight"], bias=head_tensors["bias"])
        preprocessing = Preprocessing(
            size=metadata["preprocessing"]["size"],
            mean=tuple(metadata["preprocessing"]["mean"]),
            std=tuple(metadata["preprocessing"]["std"]),
            interpolation=metadata["preprocessing"]["interpolation"],
            resize_mode=metadata["preprocessing"]["resize_mode"],
        )
        classes = [entry["display_name"] for entry in metadata["classes"]]
        logger.info("inference.model_loaded model_dir=%s device=%s classes=%d", model_dir, resolved, len(classes))
        return cls(model, head, preprocessing, classes, metadata)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def classify(self, images: list[Image.Image], *, top_k: int) -> list[list[tuple[str, float]]]:
        """Return the top_k (label, score) pairs per image, highest score first.

        Scores are the softmax over all classes, so they sum to 1 over all classes; top_k
        above the number of classes returns every class.
        """
        if top_k < 1:
            raise InvalidRequestError("invalid_top_k", f"top_k must be at least 1, got {top_k}", param="top_k")
        if not images:
            return []
        probabilities = self.probabilities(images)
        k = min(top_k, len(self.classes))
        scores, indices = probabilities.topk(k, dim=1)
        return [
            [(self.classes[index], float(score)) for score, index in zip(row_scores.tolist(), row_indices.tolist())]
            for row_scores, row_indices in zip(scores, indices)
        ]

    def probabilities(self, images: list[Image.Image]) -> torch.Tensor:
        """Return the softmax over all classes (N, C) in fp32 on the CPU."""
        pixels = np.stack([self.preprocessing.eval_pixels(image.convert("RGB")) for image in images])
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).to(self.device)
        with torch.inference_mode():
            features = self.model.encode_image(self.preprocessing.normalize(batch))
            return self.head.logits(features).softmax(dim=1).cpu()
