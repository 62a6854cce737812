"""Tests of the one image decoder: content sniffing, mode conversion, limits and reason codes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.images import BACKGROUND, ImageDecodeError, decode_image, decode_image_details

HYMENOPTERA = Path("/work/shared/data/hymenoptera_data")
MAX_PIXELS = 50_000_000


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def gradient(size: tuple[int, int] = (48, 32)) -> Image.Image:
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, axis=0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, axis=1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def large_png(width: int, height: int, *, bit_depth: int) -> bytes:
    """Build a valid all-black grayscale PNG row by row, never holding the pixels in memory."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    row = b"\x00" + bytes((width * bit_depth + 7) // 8)
    compressor = zlib.compressobj(1)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b"")


def decode_code(data: bytes, max_pixels: int = MAX_PIXELS) -> str:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data, max_pixels=max_pixels)
    return caught.value.code


@pytest.mark.parametrize("format", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_decode_repeated_identical(format: str) -> None:
    data = encode(gradient(), format)
    first = np.asarray(decode_image(data, max_pixels=MAX_PIXELS))
    second = np.asarray(decode_image(data, max_pixels=MAX_PIXELS))
    assert first.dtype == np.uint8
    assert first.shape == (32, 48, 3)
    assert np.array_equal(first, second), f"max difference {np.abs(first.astype(int) - second).max()}"


def test_decode_path_and_bytes_identical(tmp_path: Path) -> None:
    data = encode(gradient(), "PNG")
    path = tmp_path / "image.png"
    path.write_bytes(data)
    from_path = np.asarray(decode_image(path, max_pixels=MAX_PIXELS))
    from_bytes = np.asarray(decode_image(data, max_pixels=MAX_PIXELS))
    assert np.array_equal(from_path, from_bytes)


def test_decode_gif_named_jpg_by_content(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(gradient().convert("P"), "GIF"))
    decoded = decode_image_details(path, max_pixels=MAX_PIXELS)
    assert decoded.format == "GIF"
    assert decoded.image.mode == "RGB"
    assert decoded.extension == "gif"


def test_decode_real_placeholder_gif() -> None:
    decoded = decode_image_details(HYMENOPTERA / "train/ants/imageNotFound.gif", max_pixels=MAX_PIXELS)
    assert decoded.format == "GIF"
    assert decoded.source_mode == "P"
    assert decoded.image.size == (300, 300)


def test_decode_real_jpeg_repeated_identical() -> None:
    path = HYMENOPTERA / "train/bees/16838648_415acd9e3f.jpg"
    first = np.asarray(decode_image(path, max_pixels=MAX_PIXELS))
    second = np.asarray(decode_image(path.read_bytes(), max_pixels=MAX_PIXELS))
    assert np.array_equal(first, second)


def test_decode_applies_exif_orientation() -> None:
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(encode(image, "JPEG", exif=exif.tobytes()), max_pixels=MAX_PIXELS)
    assert decoded.size == (20, 40)


def test_decode_palette_transparency_on_background() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 1)
    decoded = decode_image(encode(image, "PNG", transparency=0), max_pixels=MAX_PIXELS)
    assert decoded.getpixel((1, 1)) == BACKGROUND
    assert decoded.getpixel((0, 0)) == (0, 0, 255)


def test_decode_rgba_half_transparent_composited() -> None:
    image = Image.new("RGBA", (2, 2), (0, 0, 0, 128))
    decoded = decode_image(encode(image, "PNG"), max_pixels=MAX_PIXELS)
    assert decoded.getpixel((0, 0)) == (127, 127, 127)


def test_decode_grayscale_alpha_composited() -> None:
    image = Image.new("LA", (2, 2), (0, 0))
    decoded = decode_image(encode(image, "PNG"), max_pixels=MAX_PIXELS)
    assert decoded.getpixel((0, 0)) == BACKGROUND


def test_decode_one_bit_to_rgb() -> None:
    image = Image.new("1", (3, 3), 1)
    decoded = decode_image(encode(image, "PNG"), max_pixels=MAX_PIXELS)
    assert decoded.getpixel((0, 0)) == (255, 255, 255)


def test_decode_cmyk_jpeg_to_rgb() -> None:
    image = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image_details(encode(image, "JPEG", quality=100), max_pixels=MAX_PIXELS)
    red, green, blue = decoded.image.getpixel((4, 4))
    assert decoded.source_mode == "CMYK"
    assert red > 240
    assert green < 15
    assert blue < 15


def test_decode_sixteen_bit_gray_scaled() -> None:
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    decoded = decode_image_details(encode(Image.fromarray(values), "PNG"), max_pixels=MAX_PIXELS)
    channel = np.asarray(decoded.image)[0, :, 0].tolist()
    assert decoded.source_mode == "I;16"
    assert channel == [0, 1, 128, 255]


def test_decode_animated_gif_first_frame() -> None:
    frames = [Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
    assert decoded.getpixel((0, 0)) == (255, 0, 0)


def test_decode_empty_bytes() -> None:
    assert decode_code(b"") == "empty"


def test_decode_text_not_an_image() -> None:
    assert decode_code(b"this is a text file, not a picture\n") == "not_an_image"


def test_decode_heic_unsupported_format() -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), max_pixels=MAX_PIXELS)
    assert caught.value.code == "unsupported_format"
    assert "HEIC" in caught.value.message


def test_decode_pillow_only_format_rejected() -> None:
    # PCX is a format Pillow opens but the service does not accept.
    assert decode_code(encode(gradient(), "PCX")) == "not_an_image"


@pytest.mark.parametrize("format", ["JPEG", "PNG", "GIF", "WEBP"])
def test_decode_truncated_file(format: str) -> None:
    data = encode(gradient((64, 64)), format)
    assert decode_code(data[: int(len(data) * 0.6)]) == "truncated"


def test_decode_header_cut_off() -> None:
    data = encode(gradient(), "JPEG")
    assert decode_code(data[:40]) == "truncated"


def test_decode_one_bit_bomb_before_load(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    def record_load(image: ImageFile.ImageFile) -> None:
        loads.append(image.format or "")
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", record_load)
    data = large_png(20_000, 20_000, bit_depth=1)
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert len(data) < 2_000_000
    assert caught.value.code == "too_large"
    assert "20000x20000" in caught.value.message
    assert str(MAX_PIXELS) in caught.value.message
    assert loads == []


def test_decode_ten_thousand_square_too_large() -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(large_png(10_000, 10_000, bit_depth=8), max_pixels=MAX_PIXELS)
    assert caught.value.code == "too_large"
    assert "10000x10000" in caught.value.message


def test_decode_pillow_bomb_threshold_is_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    data = encode(gradient((40, 40)), "PNG")
    assert decode_code(data, max_pixels=MAX_PIXELS) == "too_large"


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged TIFF tags
@pytest.mark.parametrize("format", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_decode_corrupted_bytes_never_crash(format: str) -> None:
    """Flip random bytes and cut files short: the decoder returns RGB or raises ImageDecodeError only."""
    generator = np.random.default_rng(2)
    original = encode(gradient((32, 24)), format)
    unexpected: list[str] = []
    for _ in range(80):
        corrupted = bytearray(original)
        for _ in range(int(generator.integers(1, 8))):
            corrupted[int(generator.integers(0, len(corrupted)))] = int(generator.integers(0, 256))
        if generator.random() < 0.3:
            corrupted = corrupted[: int(generator.integers(1, len(corrupted)))]
        try:
            decoded = decode_image(bytes(corrupted), max_pixels=10_000_000)
        except ImageDecodeError:
            continue
        except Exception as error:  # the failure this test looks for
            unexpected.append(f"{type(error).__name__}: {error}")
            continue
        assert decoded.mode == "RGB"
    assert unexpected == []
