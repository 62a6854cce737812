"""Serving a model: one image forward pass and one matrix product per batch.

A `Classifier` is either a finished model directory (`load`) or a base model for zero-shot
classification (`from_base`). Class text embeddings are computed once per label set and kept,
so classifying costs the image tower plus `features @ weight.T + bias`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file

import core.models  # noqa: F401  registers the project's architectures with open_clip
from core.errors import InvalidRequestError
from core.models.factory import create_base_model
from core.models.preprocessing import Preprocessing
from core.models.templates import resolve_templates
from core.training.artifacts import HEAD_FILE, METADATA_FILE
from core.training.config import ModelSpec
from core.training.heads import ClassifierHead, text_head, tokenize_captions
from core.training.precision import resolve_device

logger = logging.getLogger(__name__)

# Template set for zero-shot labels when neither the request nor the model names templates;
# the same default as the training hyperparameters.
DEFAULT_TEMPLATE_SET = "openai_imagenet"
MAX_LABELS = 1000
MAX_LABEL_LENGTH = 200
# Label heads kept per classifier; each is (labels, D) floats, a few KiB for small label sets.
LABEL_HEAD_CACHE_SIZE = 64
# Zero-shot labels times templates per request. Every caption goes through the text tower, so the
# product bounds a request's text work: MAX_LABELS labels with the 80 openai_imagenet templates fit.
MAX_ZERO_SHOT_CAPTIONS = 100_000


@dataclass(frozen=True)
class LabelHead:
    """The head for one label list: `zero_shot[i]` is True when label i was not trained."""

    labels: tuple[str, ...]
    zero_shot: tuple[bool, ...]
    head: ClassifierHead


class Classifier:
    """A model loaded for classification, with its trained head and text tower."""

    def __init__(
        self,
        model: torch.nn.Module,
        head: ClassifierHead,
        preprocessing: Preprocessing,
        classes: list[str],
        metadata: dict,
        *,
        class_names: list[str] | None = None,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
        templates: list[str] | None = None,
    ) -> None:
        self.model = model
        self.head = head
        self.preprocessing = preprocessing
        self.classes = classes
        self.class_names = class_names or list(classes)
        self.metadata = metadata
        self.tokenizer = tokenizer
        self.templates = templates or resolve_templates(DEFAULT_TEMPLATE_SET)
        self.default_head = LabelHead(tuple(classes), (False,) * len(classes), head)
        self._label_heads: OrderedDict[tuple, LabelHead] = OrderedDict()
        self._label_lock = threading.Lock()

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
        return cls(
            model,
            head,
            preprocessing,
            classes,
            metadata,
            class_names=[entry["name"] for entry in metadata["classes"]],
            tokenizer=open_clip.get_tokenizer(metadata["architecture"]),
            templates=metadata.get("templates"),
        )

    @classmethod
    def from_base(cls, architecture: str, pretrained: str | None, *, device: str = "cpu", cache_dir: Path | None = None) -> "Classifier":
        """Build a base model with no classes; every request names its labels (zero-shot).

        Without `pretrained` the weights are open_clip's random initialisation drawn from seed 0,
        the same weights a job without a pretrained tag starts from.
        """
        loaded = create_base_model(ModelSpec(architecture=architecture, pretrained=pretrained), cache_dir=cache_dir)
        resolved = resolve_device(device)
        model = loaded.model.to(resolved).eval()
        embed_dim = model.visual.output_dim
        head = ClassifierHead(weight=torch.zeros(0, embed_dim, device=resolved), bias=torch.zeros(0, device=resolved))
        metadata = {"architecture": architecture, "pretrained": pretrained, "method": "zeroshot", "weights_source": loaded.weights}
        logger.info("inference.base_model_loaded architecture=%s pretrained=%s device=%s", architecture, pretrained, resolved)
        return cls(model, head, loaded.preprocessing, [], metadata, tokenizer=loaded.tokenizer)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def memory_bytes(self) -> int:
        """Estimate the resident size: parameters and buffers of the model plus the head."""
        tensors = [*self.model.parameters(), *self.model.buffers(), self.head.weight, self.head.bias]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    def label_head(self, labels: list[str] | None, templates: list[str] | None = None) -> LabelHead:
        """Return the head for `labels`: trained rows for known classes, zero-shot rows for the rest.

        Without `labels` it is the trained head over every class. A label matches a class by its
        display name or its folder name. Zero-shot rows are exp(logit_scale) times the label's
        text embedding averaged over `templates` (default: the model's training templates), so
        they share the scale of a FLYP head; `templates` leaves trained rows unchanged.
        """
        if labels is None:
            if not self.classes:
                raise InvalidRequestError(
                    "labels_required", "This base model has no trained classes; send the labels to choose from in 'labels'.", param="labels"
                )
            return self.default_head
        check_labels(labels)
        resolved_templates = resolve_templates(templates, param="templates") if templates is not None else self.templates
        zero_shot_labels = sum(self._trained_row(label) is None for label in labels)
        if zero_shot_labels * len(resolved_templates) > MAX_ZERO_SHOT_CAPTIONS:
            raise InvalidRequestError(
                "too_many_captions",
                f"{zero_shot_labels} zero-shot labels times {len(resolved_templates)} templates is more than {MAX_ZERO_SHOT_CAPTIONS} captions;"
                " send fewer labels or fewer templates.",
                param="templates",
            )
        key = (tuple(labels), tuple(resolved_templates))
        with self._label_lock:
            cached = self._label_heads.get(key)
            if cached is not None:
                self._label_heads.move_to_end(key)
                return cached

        built = self._build_label_head(labels, resolved_templates)
        with self._label_lock:
            self._label_heads[key] = built
            while len(self._label_heads) > LABEL_HEAD_CACHE_SIZE:
                self._label_heads.popitem(last=False)
        return built

    def _build_label_head(self, labels: list[str], templates: list[str]) -> LabelHead:
        rows = [self._trained_row(label) for label in labels]
        unknown = [label for label, row in zip(labels, rows) if row is None]
        zero_shot_rows: dict[str, int] = {}
        extra_head = None
        if unknown:
            tokens = tokenize_captions(self.tokenizer, templates, unknown)
            extra_head = text_head(self.model, tokens, num_classes=len(unknown), device=self.device)
            zero_shot_rows = {label: index for index, label in enumerate(unknown)}

        weights, biases = [], []
        for label, row in zip(labels, rows):
            if row is None:
                weights.append(extra_head.weight[zero_shot_rows[label]])
                biases.append(extra_head.bias[zero_shot_rows[label]])
            else:
                weights.append(self.head.weight[row])
                biases.append(self.head.bias[row])
        head = ClassifierHead(weight=torch.stack(weights).float(), bias=torch.stack(biases).float())
        return LabelHead(tuple(labels), tuple(row is None for row in rows), head)

    def _trained_row(self, label: str) -> int | None:
        if label in self.classes:
            return self.classes.index(label)
        if label in self.class_names:
            return self.class_names.index(label)
        return None

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """Apply the evaluation resize and crop; return a uint8 batch (N, 3, size, size) on the CPU."""
        stacked = np.stack([self.preprocessing.eval_pixels(image.convert("RGB")) for image in images])
        return torch.from_numpy(stacked).permute(0, 3, 1, 2)

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Run the image tower on a uint8 batch, normalised with the model's own mean and std."""
        with torch.inference_mode():
            return self.model.encode_image(self.preprocessing.normalize(pixels.to(self.device)))

    @staticmethod
    def scores(features: torch.Tensor, head: ClassifierHead) -> torch.Tensor:
        """Return the softmax over the head's labels (N, C) in fp32 on the CPU."""
        with torch.inference_mode():
            return head.logits(features).softmax(dim=1).cpu()

    def probabilities(self, images: list[Image.Image]) -> torch.Tensor:
        """Return the softmax over all trained classes (N, C) in fp32 on the CPU."""
        return self.scores(self.image_features(self.pixels(images)), self.head)

    def classify(self, images: list[Image.Image], *, top_k: int) -> list[list[tuple[str, float]]]:
        """Return the top_k (label, score) pairs per image, highest score first.

        Scores are the softmax over all classes, so they sum to 1 over all classes; top_k
        above the number of classes returns every class.
        """
        if top_k < 1:
            raise InvalidRequestError("invalid_top_k", f"top_k must be at least 1, got {top_k}", param="top_k")
        if not images:
            return []
        ranked = top_labels(self.probabilities(images), self.default_head, top_k)
        return [[(label, score) for label, score, _ in row] for row in ranked]


def top_labels(probabilities: torch.Tensor, label_head: LabelHead, top_k: int) -> list[list[tuple[str, float, bool]]]:
    """Return (label, score, zero_shot) triples per row, highest score first, at most top_k."""
    k = min(top_k, len(label_head.labels))
    scores, indices = probabilities.topk(k, dim=1)
    return [
        [(label_head.labels[index], float(score), label_head.zero_shot[index]) for score, index in zip(row_scores.tolist(), row_indices.tolist())]
        for row_scores, row_indices in zip(scores, indices)
    ]


def check_labels(labels: list[str]) -> None:
    """Raise InvalidRequestError unless `labels` is 1 to MAX_LABELS distinct, non-blank strings."""
    if not labels or len(labels) > MAX_LABELS:
        raise InvalidRequestError("invalid_labels", f"labels needs 1 to {MAX_LABELS} entries, got {len(labels)}.", param="labels")
    seen: set[str] = set()
    for index, label in enumerate(labels):
        if not label.strip() or len(label) > MAX_LABEL_LENGTH or "\x00" in label:
            raise InvalidRequestError(
                "invalid_label", f"Label {index} must be 1 to {MAX_LABEL_LENGTH} characters of text, got {label!r}.", param=f"labels[{index}]"
            )
        if label in seen:
            raise InvalidRequestError("duplicate_label", f"Label {label!r} appears more than once in labels.", param=f"labels[{index}]")
        seen.add(label)
