"""The fields of a dataset upload form, read from a parsed multipart body and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass

from api.multipart import ParsedForm, UploadedFile
from core.datasets.creation import Upload
from core.errors import InvalidRequestError

FIELDS = ("file", "name", "display_names", "validate_only")
MAX_NAME_LENGTH = 200
MAX_DISPLAY_NAME_LENGTH = 200
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class DatasetForm:
    upload: Upload
    filename: str | None
    name: str
    display_names: dict[str, str]
    validate_only: bool


def read_dataset_form(parsed: ParsedForm) -> DatasetForm:
    """Check the form's fields and return them; raise InvalidRequestError naming the bad field."""
    unknown = sorted((set(parsed.fields) | set(parsed.files)) - set(FIELDS))
    if unknown:
        raise InvalidRequestError(
            "unknown_field", f"Unknown form field(s): {', '.join(unknown)}; accepted fields are {', '.join(FIELDS)}.", param=unknown[0]
        )
    uploaded = _require_file(parsed)
    return DatasetForm(
        upload=Upload(path=uploaded.path, size=uploaded.size, sha256=uploaded.sha256),
        filename=uploaded.filename,
        name=_name(parsed.fields.get("name"), uploaded.filename),
        display_names=parse_display_names(parsed.fields.get("display_names")),
        validate_only=parse_flag(parsed.fields.get("validate_only"), param="validate_only"),
    )


def parse_display_names(text: str | None) -> dict[str, str]:
    """Parse the `display_names` field: a JSON object from class name to prompt text."""
    if text is None or not text.strip():
        return {}
    example = '{"golden_retriever": "golden retriever dog"}'
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidRequestError(
            "invalid_display_names", f"display_names is not valid JSON ({error}); send an object such as {example}.", param="display_names"
        ) from None
    if not isinstance(value, dict) or not all(isinstance(key, str) and isinstance(item, str) for key, item in value.items()):
        raise InvalidRequestError(
            "invalid_display_names", f"display_names must be a JSON object of strings, such as {example}.", param="display_names"
        )
    too_long = [key for key, item in value.items() if len(item) > MAX_DISPLAY_NAME_LENGTH]
    if too_long:
        raise InvalidRequestError(
            "invalid_display_names",
            f"The display name of {too_long[0]!r} is longer than {MAX_DISPLAY_NAME_LENGTH} characters.",
            param="display_names",
        )
    return value


def parse_flag(text: str | None, *, param: str) -> bool:
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidRequestError("invalid_flag", f"{param} must be true or false, got {text!r}.", param=param)


def _require_file(parsed: ParsedForm) -> UploadedFile:
    uploaded = parsed.files.get("file")
    if uploaded is None:
        raise InvalidRequestError("missing_file", "The form has no 'file' part; send the archive as file=@dataset.zip.", param="file")
    return uploaded


def _name(requested_name: str | None, filename: str | None) -> str:
    name = (requested_name or "").strip() or (filename or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequestError("invalid_name", f"name is longer than {MAX_NAME_LENGTH} characters.", param="name")
    return name
