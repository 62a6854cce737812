"""Models: the project's open_clip architectures, base-model creation, templates and heads."""

from core.models.factory import LoadedModel, create_base_model
from core.models.preprocessing import Preprocessing
from core.models.registry import PROJECT_ARCHITECTURES, register_architectures
from core.models.templates import TEMPLATE_SETS, fill_templates, natural_class_text, resolve_templates

register_architectures()

__all__ = [
    "PROJECT_ARCHITECTURES",
    "TEMPLATE_SETS",
    "LoadedModel",
    "Preprocessing",
    "create_base_model",
    "fill_templates",
    "natural_class_text",
    "register_architectures",
    "resolve_templates",
]
