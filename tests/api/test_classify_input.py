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
