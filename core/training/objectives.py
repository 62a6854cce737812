"""What each method optimises: FLYP's contrastive loss or cross-entropy through a linear head."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from core.training.heads import ClassifierHead, text_head

# open_clip's training clamps logit_scale to [0, ln(100)] after each step.
MAX_LOGIT_SCALE = math.log(100)


def encode_captions(model: torch.nn.Module, caption_tokens: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
    """Return normalised text features (B, D) for `caption_ids`, encoding each distinct caption once.

    With few classes and templates most captions in a batch repeat. Gathering rows of the
    distinct captions' features gives the same values as encoding every row, and the gather's
    backward sums the gradients of repeated rows, which is what encoding each copy separately
    would accumulate too.
    """
    unique_ids, inverse = torch.unique(caption_ids, return_inverse=True)
    features = model.encode_text(caption_tokens[unique_ids], normalize=True)
    return features[inverse]


def label_aware_clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ClipLoss with same-class off-diagonal pairs removed from the negatives."""
    logits = logit_scale * image_features @ text_features.T
    same_class = labels[:, None] == labels[None, :]
    negatives_to_drop = same_class & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    logits = logits.masked_fill(negatives_to_drop, float("-inf"))
    targets = torch.arange(len(labels), device=labels.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


class FlypObjective:
    """FLYP: open_clip's ClipLoss between images and their captions; every parameter trains."""

    def __init__(self, model: torch.nn.Module, caption_tokens: torch.Tensor, *, num_templates: int, num_classes: int, label_aware: bool = False) -> None:
        self.model = model
        self.caption_tokens = caption_tokens
        self.num_templates = num_templates
        self.num_classes = num_classes
        self.label_aware = label_aware
        self.clip_loss = ClipLoss()

    @property
    def trainable(self) -> torch.nn.Module:
        return self.model

    def loss(self, images: torch.Tensor, labels: torch.Tensor, template_ids: torch.Tensor) -> torch.Tensor:
        image_features = self.model.encode_image(images, normalize=True)
        caption_ids = labels * self.num_templates + template_ids
        text_features = encode_captions(self.model, self.caption_tokens, caption_ids)
        logit_scale = self.model.logit_scale.exp()
        if self.label_aware:
            return label_aware_clip_loss(image_features, text_features, logit_scale, labels)
        return self.clip_loss(image_features, text_features, logit_scale)

    def clamp_logit_scale(self) -> None:
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)

    def head(self, device: torch.device) -> ClassifierHead:
        """Return the zero-shot head rebuilt from the current text tower."""
        was_training = self.model.training
        self.model.eval()
        head = text_head(self.model, self.caption_tokens, num_classes=self.num_classes, device=device)
        self.model.train(was_training)
        return head


class ImageClassifier(torch.nn.Module):
    """The image tower with a linear head on normalised features (the text tower is not used)."""

    def __init__(self, visual: torch.nn.Module, head: ClassifierHead) -> None:
        super().__init__()
        self.visual = visual
        self.head = torch.nn.Linear(head.weight.shape[1], head.weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(head.weight)
            self.head.bias.copy_(head.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.normalize(self.visual(images), dim=-1))

    def classifier_head(self) -> ClassifierHead:
        return ClassifierHead(weight=self.head.weight.detach().clone(), bias=self.head.bias.detach().clone())


class CrossEntropyObjective:
    """Standard finetuning: cross-entropy on the image tower and a head started from the zero-shot head."""

    def __init__(self, classifier: ImageClassifier) -> None:
        self.classifier = classifier

    @property
    def trainable(self) -> torch.nn.Module:
        return self.classifier

    def loss(self, images: torch.Tensor, labels: torch.Tensor, template_ids: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.classifier(images), labels)

    def clamp_logit_scale(self) -> None:
        return None  # logit_scale is folded into the head and does not train here

    def head(self, device: torch.device) -> ClassifierHead:
        return self.classifier.classifier_head()
