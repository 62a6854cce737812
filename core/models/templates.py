"""Prompt templates and the class text that fills them."""

from __future__ import annotations

import re

from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from core.errors import InvalidRequestError

# open_clip stores these as lambdas; calling one with "{}" gives its format string back.
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "simple": ("a photo of a {}.",),
    "openai_imagenet": tuple(template("{}") for template in OPENAI_IMAGENET_TEMPLATES),
}
MAX_CUSTOM_TEMPLATES = 1000


def resolve_templates(templates: str | list[str], *, param: str = "hyperparameters.templates") -> list[str]:
    """Return the template strings of a set name or validate a custom list.

    Raises InvalidRequestError for an unknown set name, an empty list, or a template that does
    not contain exactly one "{}".
    """
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            names = ", ".join(sorted(TEMPLATE_SETS))
            raise InvalidRequestError(
                "unknown_template_set", f"unknown template set {templates!r}; use one of: {names}, or a list of templates", param=param
            )
        return list(TEMPLATE_SETS[templates])

    if not templates or len(templates) > MAX_CUSTOM_TEMPLATES:
        raise InvalidRequestError(
            "invalid_templates", f"a custom template list needs 1 to {MAX_CUSTOM_TEMPLATES} templates, got {len(templates)}", param=param
        )
    for index, template in enumerate(templates):
        _check_template(template, param=f"{param}[{index}]")
    return list(templates)


def _check_template(template: str, *, param: str) -> None:
    if template.count("{}") != 1:
        raise InvalidRequestError(
            "invalid_template", f"template {template!r} must contain exactly one '{{}}' where the class name goes", param=param
        )
    # Any other brace would make str.format fail or change the text.
    if template.replace("{}", "").count("{") or template.replace("{}", "").count("}"):
        raise InvalidRequestError(
            "invalid_template", f"template {template!r} contains a brace other than the one '{{}}'", param=param
        )


def natural_class_text(name: str) -> str:
    """Turn a class folder name into prompt text: underscores and hyphens become spaces."""
    text = re.sub(r"[_\-]+", " ", name)
    return re.sub(r"\s+", " ", text).strip() or name


def fill_templates(templates: list[str], class_texts: list[str]) -> list[str]:
    """Return every caption in class-major order: caption `c * len(templates) + t`."""
    return [template.format(text) for text in class_texts for template in templates]
