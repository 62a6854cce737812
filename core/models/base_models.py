"""Base models offered for zero-shot classification, and their ids `base:ARCHITECTURE:PRETRAINED`."""

from __future__ import annotations

from dataclasses import dataclass

BASE_ID_PREFIX = "base:"
# The pretrained part of an id for open_clip's random initialisation (seed 0).
RANDOM_WEIGHTS = "random"


@dataclass(frozen=True)
class BaseModelRef:
    architecture: str
    pretrained: str | None

    @property
    def id(self) -> str:
        return f"{BASE_ID_PREFIX}{self.architecture}:{self.pretrained or RANDOM_WEIGHTS}"


def is_base_model_id(model_id: str) -> bool:
    return model_id.startswith(BASE_ID_PREFIX)


def parse_base_models(setting: str) -> list[BaseModelRef]:
    """Parse `FLYP_BASE_MODELS`: comma-separated ARCHITECTURE:PRETRAINED entries.

    The pretrained part follows the last colon, so `hf-hub:org/name:TAG` keeps its hub prefix.
    An entry without a colon means random weights.
    """
    refs = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        architecture, _, pretrained = entry.rpartition(":") if ":" in entry else (entry, "", RANDOM_WEIGHTS)
        refs.append(BaseModelRef(architecture, None if pretrained == RANDOM_WEIGHTS else pretrained))
    return refs


def find_base_model(model_id: str, offered: list[BaseModelRef]) -> BaseModelRef | None:
    """Return the offered base model with `model_id`; None for any other id."""
    return next((ref for ref in offered if ref.id == model_id), None)
