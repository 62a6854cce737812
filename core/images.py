"""The one image decoder used at ingest, in training and in classify.

Decoding goes by content, never by file extension. Every caller gets the same RGB image for
the same bytes, so the pixels the model was evaluated on are the pixels it serves.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

# Transparent pixels are composited on white, for every caller alike.
BACKGROUND = (255, 255, 255)


class ImageDecodeError(ValueError):
    """An image that cannot be used, with a reason code: empty, not_an_image, truncated, too_large, unreadable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def decode_image(source: bytes | str | Path, *, max_pixels: int) -> Image.Image:
    """Decode `source` (bytes or a path) into an RGB image, or raise ImageDecodeError.

    The pixel count is checked from the header before any pixel data is decoded, so a
    decompression bomb costs no memory.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if not data:
        raise ImageDecodeError("empty", "the file is empty (0 bytes)")

    with warnings.catch_warnings():
        # Pillow's own bomb check is a warning below twice its limit; treat it as an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageDecodeError("not_an_image", "the content is not a supported image format") from None
        except Image.DecompressionBombError as error:
            raise ImageDecodeError("too_large", str(error)) from None
        except Image.DecompressionBombWarning as error:
            raise ImageDecodeError("too_large", str(error)) from None

        width, height = image.size
        if width * height > max_pixels:
            raise ImageDecodeError(
                "too_large",
                f"the image is {width}x{height} = {width * height} pixels, above the limit of {max_pixels} pixels",
            )
        try:
            image.seek(0)  # animated images use their first frame
            image.load()
        except (OSError, SyntaxError, ValueError) as error:
            code = "truncated" if "truncated" in str(error).lower() else "unreadable"
            raise ImageDecodeError(code, f"the image data is damaged: {error}") from None

    return _to_rgb(ImageOps.exif_transpose(image))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGB, compositing transparency on BACKGROUND."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale 0..65535 down to 0..255 instead of clipping.
        image = image.point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
