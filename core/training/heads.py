"""Classification heads: the zero-shot head built from the text tower, and linear heads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from core.models.templates import fill_templates

TEXT_BATCH_SIZE = 256


@dataclass
class ClassifierHead:
    """logits = normalize(image_features) @ weight.T + bias, with weight (C, D) and bias (C,)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, image_features: torch.Tensor) -> torch.Tensor:
        features = F.normalize(image_features.float(), dim=-1)
        return features @ self.weight.float().T + self.bias.float()

    def to(self, device: torch.device | str) -> "ClassifierHead":
        return ClassifierHead(self.weight.to(device), self.bias.to(device))


def tokenize_captions(tokenizer: Callable[[list[str]], torch.Tensor], templates: list[str], class_texts: list[str]) -> torch.Tensor:
    """Tokenize every caption; row `c * len(templates) + t` is class c with template t."""
    return tokenizer(fill_templates(templates, class_texts))


@torch.no_grad()
def zeroshot_class_embeddings(model: torch.nn.Module, caption_tokens: torch.Tensor, *, num_classes: int, device: torch.device) -> torch.Tensor:
    """Return the zero-shot class embeddings (C, D), unit length, in fp32.

    For each class: encode every template's caption, L2-normalise each embedding, average
    over templates and normalise again (CLIP's zero-shot classifier, also what FLYP rebuilds
    after every epoch).
    """
    chunks = [
        model.encode_text(caption_tokens[start : start + TEXT_BATCH_SIZE].to(device), normalize=True).float()
        for start in range(0, len(caption_tokens), TEXT_BATCH_SIZE)
    ]
    embeddings = torch.cat(chunks).reshape(num_classes, -1, chunks[0].shape[-1])
    return F.normalize(embeddings.mean(dim=1), dim=-1)


def text_head(model: torch.nn.Module, caption_tokens: torch.Tensor, *, num_classes: int, device: torch.device) -> ClassifierHead:
    """Return the zero-shot head with the model's scale folded in: weight = exp(logit_scale) * embeddings."""
    embeddings = zeroshot_class_embeddings(model, caption_tokens, num_classes=num_classes, device=device)
    scale = model.logit_scale.detach().float().exp()
    return ClassifierHead(weight=scale * embeddings, bias=torch.zeros(num_classes, device=embeddings.device))
