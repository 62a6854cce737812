"""The one image decoder used at ingest, in training and in classify.

Decoding goes by content, never by file extension. Every caller gets the same RGB image for
the same bytes, so the pixels the model was evaluated on are the pixels it serves.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

import numpy as np
from PIL import Image, ImageFile, ImageOps

logger = logging.getLogger(__name__)

# Transparent pixels are composited on white, for every caller alike.
BACKGROUND = (255, 255, 255)

# Formats the service decodes. Pillow can open more (EPS even runs Ghostscript), so every other
# format is rejected as unsupported instead of being handed to a rarely used parser.
SUPPORTED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")

# File name extension to store each supported format under.
FORMAT_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
    "AVIF": "avif",
}

# Pillow's decoders raise many exception types on malformed input; flipped bytes in a GIF or
# WebP file raised DecompressionBombError outside Image.open, for example. Any exception while
# parsing untrusted bytes is a property of the file, so it becomes a reason code, never a crash.
_MALFORMED_INPUT_ERRORS = (Exception,)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageDecodeError(ValueError):
    """An image that cannot be used, with a reason code.

    Codes: empty, not_an_image, unsupported_format, truncated, too_large, unreadable.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image with the facts about its source that ingest records."""

    image: Image.Image
    format: str
    source_mode: str

    @property
    def extension(self) -> str:
        return FORMAT_EXTENSIONS[self.format]


def decode_image(source: bytes | str | Path, *, max_pixels: int) -> Image.Image:
    """Decode `source` (bytes or a path) into an 8-bit RGB image, or raise ImageDecodeError."""
    return decode_image_details(source, max_pixels=max_pixels).image


def decode_image_details(source: bytes | str | Path, *, max_pixels: int) -> DecodedImage:
    """Decode `source` like `decode_image` and also return its format and original mode.

    Every caller goes through the same steps. The format is identified from the first bytes.
    The header's width x height is checked against `max_pixels`, and against the threshold
    at which Pillow only warns (`Image.MAX_IMAGE_PIXELS`), before any pixel data is decoded.
    Then the first frame is decoded, rotated by its EXIF orientation and converted to RGB.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if not data:
        raise ImageDecodeError("empty", "the file is empty (0 bytes)")

    image = _open_header(data)
    _check_pixels(image, max_pixels)
    _load_pixels(image, data)
    source_mode = image.mode

    oriented = _apply_exif_orientation(image)
    try:
        rgb = _to_rgb(oriented)
    except _MALFORMED_INPUT_ERRORS as error:
        logger.warning("image.conversion_failed mode=%s error_type=%s error=%s", source_mode, type(error).__name__, error)
        raise ImageDecodeError("unreadable", f"the {image.format} image in mode {source_mode} cannot be converted to RGB") from None
    return DecodedImage(image=rgb, format=image.format or "", source_mode=source_mode)


def _open_header(data: bytes) -> ImageFile.ImageFile:
    """Parse only the header, trying each supported format whose signature matches.

    This repeats what `Image.open` does, minus its decompression bomb check, because that
    check raises before the dimensions are known and the error message needs them.
    """
    Image.init()
    prefix = data[:16]
    matched: list[tuple[str, Exception]] = []
    for name in SUPPORTED_FORMATS:
        if name not in Image.OPEN:
            continue  # a format whose plugin this Pillow build lacks, such as AVIF
        factory, accept = Image.OPEN[name]
        signature_matches = accept is None or accept(prefix)
        if isinstance(signature_matches, str) or not signature_matches:
            continue  # a string is Pillow's reason for not accepting the prefix
        try:
            return factory(io.BytesIO(data), None)
        except Image.DecompressionBombError as error:
            raise ImageDecodeError("too_large", f"the image is too large to decode: {error}") from None
        except _MALFORMED_INPUT_ERRORS as error:
            matched.append((name, error))

    if matched:
        name, error = matched[0]
        message = f"the file starts like a {name} image but its header cannot be read: {error}"
        raise ImageDecodeError(_failure_code(error, data), message)
    _raise_unknown_content(data)


def _raise_unknown_content(data: bytes) -> NoReturn:
    """Reject content that no supported format accepts, naming common unsupported formats."""
    supported = ", ".join(sorted(set(FORMAT_EXTENSIONS.values())))
    for name, matches in _UNSUPPORTED_SIGNATURES:
        if matches(data[:32]):
            message = f"the file is a {name} file, which is not supported; convert it to one of: {supported}"
            raise ImageDecodeError("unsupported_format", message)
    raise ImageDecodeError("not_an_image", f"the content is not an image in a supported format ({supported})")


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1")


# Signatures of formats users upload by mistake, so that the error message names the format.
_UNSUPPORTED_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("HEIC/HEIF", _is_heif),
    ("JPEG 2000", lambda head: head.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51"))),
    ("Photoshop (PSD)", lambda head: head.startswith(b"8BPS")),
    ("PDF", lambda head: head.startswith(b"%PDF")),
    ("SVG or XML", lambda head: head.lstrip().startswith((b"<svg", b"<?xml"))),
    ("Windows icon (ICO)", lambda head: head.startswith(b"\x00\x00\x01\x00")),
)


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    pixels = width * height
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    if pixels > limit:
        raise ImageDecodeError(
            "too_large",
            f"the image is {width}x{height} = {pixels} pixels, above the limit of {limit} pixels; "
            "downscale it before uploading",
        )


def _load_pixels(image: ImageFile.ImageFile, data: bytes) -> None:
    """Decode the first frame's pixels, mapping decoder failures to reason codes."""
    try:
        image.load()
    except Image.DecompressionBombError as error:
        # Pillow checks frame sizes again while decoding some formats, such as GIF frames.
        raise ImageDecodeError("too_large", f"the {image.format} image is too large to decode: {error}") from None
    except _MALFORMED_INPUT_ERRORS as error:
        message = f"the {image.format} image data is damaged or cut off: {error}"
        raise ImageDecodeError(_failure_code(error, data), message) from None


def _failure_code(error: Exception, data: bytes) -> str:
    """Return "truncated" when the data ends early, else "unreadable"."""
    if "truncated" in str(error).lower() or _riff_is_cut_off(data):
        return "truncated"
    return "unreadable"


def _riff_is_cut_off(data: bytes) -> bool:
    """Tell whether a RIFF container (WebP) declares more bytes than the file contains.

    libwebp reports a cut-off file only as "could not create decoder object".
    """
    if len(data) < 12 or data[:4] != b"RIFF":
        return False
    (declared,) = struct.unpack("<I", data[4:8])
    return declared + 8 > len(data)


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Rotate or flip by the EXIF orientation tag; damaged EXIF data leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except _MALFORMED_INPUT_ERRORS as error:
        logger.debug("image.exif_orientation_ignored error=%s", error)
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGB, compositing transparency on BACKGROUND."""
    if image.mode in _SIXTEEN_BIT_MODES:
        image = _sixteen_bit_to_l(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # CMYK, YCbCr, palette, 1-bit and grayscale all have a defined conversion to RGB in
    # Pillow. CMYK uses (255 - C) * (255 - K) / 255 per channel; no ICC profile is applied.
    return image.convert("RGB")


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """Scale 16-bit grayscale (0..65535) to 8 bits; Pillow's own conversion clips at 255.

    Mode "I" is 32-bit, but decoders produce it from 16-bit sources, so it gets the same
    0..65535 range and values outside it are clipped.
    """
    values = np.asarray(image).astype(np.int64)
    values = np.clip(values, 0, 65535)
    scaled = (values * 255 + 32767) // 65535
    return Image.fromarray(scaled.astype(np.uint8))
