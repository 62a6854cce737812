"""Hostile and malformed classify requests against the base model: each gets a 4xx naming the field."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.stack import Stack

BASE_MODEL = "/v1/models/base:flyp-tiny:random/classify"
LABELS = ["ants", "bees"]


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def image_part(png_bytes: bytes) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", ("photo.png", png_bytes, "image/png"))


@pytest.mark.parametrize("top_k", ["²", "٣", "1e3", "+2", "-1", "0", "1001"])
def test_multipart_odd_top_k_422(stack: Stack, png_bytes: bytes, top_k: str) -> None:
    response = stack.client.post(BASE_MODEL, files=[image_part(png_bytes)], data={"labels": LABELS, "top_k": top_k})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_top_k"
    assert response.json()["error"]["param"] == "top_k"


@pytest.mark.parametrize("field", ["labels", "templates", "top_k"])
def test_multipart_text_field_as_file_422(stack: Stack, png_bytes: bytes, field: str) -> None:
    files = [image_part(png_bytes), (field, ("field.txt", b"ants", "text/plain"))]
    data = {"labels": LABELS} if field != "labels" else {}

    response = stack.client.post(BASE_MODEL, files=files, data=data)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_field"
    assert response.json()["error"]["param"] == field


def test_multipart_repeated_top_k_422(stack: Stack, png_bytes: bytes) -> None:
    response = stack.client.post(BASE_MODEL, files=[image_part(png_bytes)], data={"labels": LABELS, "top_k": ["1", "2"]})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_top_k"
    assert response.json()["error"]["param"] == "top_k"


def test_image_object_extra_field_422(stack: Stack, png_bytes: bytes) -> None:
    image = {"data": base64.b64encode(png_bytes).decode(), "filename": "photo.png", "mime": "image/png"}

    response = stack.client.post(BASE_MODEL, json={"images": [image], "labels": LABELS})

    assert response.status_code == 422, response.text
    assert "mime" in response.json()["error"]["message"]


@pytest.mark.parametrize("top_k", [True, "3", 2.0])
def test_json_top_k_must_be_integer(stack: Stack, png_bytes: bytes, top_k: object) -> None:
    image = {"data": base64.b64encode(png_bytes).decode()}

    response = stack.client.post(BASE_MODEL, json={"images": [image], "labels": LABELS, "top_k": top_k})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "top_k"


def test_models_unknown_base_cursor_422(stack: Stack) -> None:
    response = stack.client.get("/v1/models", params={"after": "base:no-such-architecture:random"})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert response.json()["error"]["param"] == "after"


def test_models_pages_reach_base_models(stack: Stack) -> None:
    seen: list[str] = []
    after = None
    for _ in range(1000):
        params = {"limit": 1, **({"after": after} if after else {})}
        page = stack.client.get("/v1/models", params=params).json()
        seen.extend(model["id"] for model in page["data"])
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]

    assert len(seen) == len(set(seen))
    assert "base:flyp-tiny:random" in seen


def test_multipart_without_closing_boundary_422(stack: Stack, png_bytes: bytes) -> None:
    """A body cut before its closing boundary must not be classified with the parts that arrived."""
    image = b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="photo.png"\r\nContent-Type: image/png\r\n\r\n' + png_bytes
    labels = b'\r\n--XyZ\r\nContent-Disposition: form-data; name="labels"\r\n\r\nants\r\n'
    body = image + labels

    response = stack.client.post(BASE_MODEL, content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_multipart"
