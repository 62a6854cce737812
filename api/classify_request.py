"""Reading a classify request: multipart files or JSON with base64 images, into one shape."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from python_multipart.multipart import parse_options_header
from starlette.formparsers import MultiPartException, MultiPartParser

from api.multipart import UnsupportedMediaTypeError
from api.schemas.models import ClassifyRequest, ImageIn
from core.errors import InvalidRequestError, PayloadTooLargeError

MULTIPART_FIELDS = ("files", "top_k", "labels", "templates")
MAX_FORM_FIELDS = 2000
DEFAULT_TOP_K = 5


@dataclass
class ClassifyInput:
    payloads: list[bytes]
    filenames: list[str | None]
    top_k: int
    labels: list[str] | None
    templates: str | list[str] | None
    # Field name of the images in error messages (files[i] or images[i]).
    image_param: str


async def read_classify_request(request: Request, *, max_bytes: int, max_images: int) -> ClassifyInput:
    """Parse the body by its Content-Type; raise 413, 415 or 422 naming the field at fault."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "multipart/form-data"):
        raise UnsupportedMediaTypeError(
            "unsupported_media_type",
            "Send images as multipart/form-data ('files' fields) or as application/json with base64 'images'.",
            param="files",
        )
    body = await _read_capped(request, max_bytes)
    parsed = _from_json(body) if content_type == "application/json" else await _from_multipart(request, body, max_images)
    if len(parsed.payloads) > max_images:
        raise InvalidRequestError(
            "too_many_images", f"{len(parsed.payloads)} images sent; the limit is {max_images} per request.", param=parsed.image_param
        )
    return parsed


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        "request_too_large",
        f"The classify request is larger than the limit of {max_bytes} bytes; send fewer or smaller images per request.",
    )


def _from_json(body: bytes) -> ClassifyInput:
    try:
        classify_in = ClassifyRequest.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError([{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)]) from None
    payloads, filenames = [], []
    for index, image in enumerate(classify_in.images):
        data, filename = (image.data, image.filename) if isinstance(image, ImageIn) else (image, None)
        payloads.append(_decode_base64(data, index))
        filenames.append(filename)
    return ClassifyInput(payloads, filenames, classify_in.top_k, classify_in.labels, classify_in.templates, image_param="images")


def _decode_base64(data: str, index: int) -> bytes:
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            "invalid_base64", f"Image {index} is not valid base64; encode the file's bytes with standard base64.", param=f"images[{index}]"
        ) from None


async def _from_multipart(request: Request, body: bytes, max_images: int) -> ClassifyInput:
    async def stream():  # type: ignore[no-untyped-def]
        yield body

    # The body is already in memory and capped, so Starlette's parser only splits it.
    parser = MultiPartParser(request.headers, stream(), max_files=max_images * 4, max_fields=MAX_FORM_FIELDS)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise InvalidRequestError("invalid_multipart", f"The multipart body cannot be read: {error.message}", param="files") from None
    if not _has_closing_boundary(request, body):
        await form.close()
        raise InvalidRequestError(
            "invalid_multipart", "The multipart body ends before its closing boundary; send the whole request again.", param="files"
        )
    try:
        return await _form_input(form)
    finally:
        await form.close()



def _has_closing_boundary(request: Request, body: bytes) -> bool:
    """Report whether the body contains the closing delimiter `--BOUNDARY--`.

    The parser keeps the parts read before a body is cut short, so without this check a
    truncated request would be classified with some of its fields missing.
    """
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    return bool(boundary) and b"--" + boundary + b"--" in body


async def _form_input(form) -> ClassifyInput:  # type: ignore[no-untyped-def]
    unknown = sorted(set(form.keys()) - set(MULTIPART_FIELDS))
    if unknown:
        raise InvalidRequestError(
            "unknown_field", f"Unknown form field(s): {', '.join(unknown)}; accepted fields are {', '.join(MULTIPART_FIELDS)}.", param=unknown[0]
        )
    files = form.getlist("files")
    if not files:
        raise InvalidRequestError("missing_images", "Send at least one image in a 'files' field.", param="files")
    if not all(isinstance(item, UploadFile) for item in files):
        raise InvalidRequestError("invalid_files", "Every 'files' field must be a file part, with a filename.", param="files")
    labels = _text_values(form, "labels") or None
    templates = _text_values(form, "templates") or None
    if templates is not None and len(templates) == 1 and "{}" not in templates[0]:
        templates = templates[0]  # one value without '{}' names a template set
    return ClassifyInput(
        payloads=[await item.read() for item in files],
        filenames=[item.filename for item in files],
        top_k=_top_k(_text_values(form, "top_k")),
        labels=labels,
        templates=templates,
        image_param="files",
    )


def _text_values(form, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Return the values of a text field, and raise 422 if any part with that name is a file."""
    values = form.getlist(name)
    if any(isinstance(value, UploadFile) for value in values):
        raise InvalidRequestError("invalid_field", f"'{name}' must be a text field, not a file part.", param=name)
    return values


def _top_k(values: list[str]) -> int:
    if not values:
        return DEFAULT_TOP_K
    if len(values) > 1:
        raise InvalidRequestError("invalid_top_k", f"top_k was sent {len(values)} times, but it takes one value.", param="top_k")
    text = values[0].strip()
    # isdigit alone also accepts digits such as '²' that int() rejects.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1000:
        raise InvalidRequestError("invalid_top_k", f"top_k must be a whole number from 1 to 1000, got {text!r}.", param="top_k")
    return int(text)
