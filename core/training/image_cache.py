"""Decoded images cached once per (image set, image size), so no epoch decodes a JPEG.

Two kinds of cache exist for a set of images:

- "eval": the evaluation resize and centre crop applied once, uint8 (N, size, size, 3). These
  are exactly the pixels open_clip's evaluation transform produces before ToTensor.
- "train": each image shrunk (never enlarged) to a short side of `ceil(size * 1.15)` and
  stored with its aspect ratio, so RandomResizedCrop on the cached array picks the same
  relative region as on the original and resamples from 1.15x the output size. Images wider or
  taller than 1.5:1 are centre-cropped to 1.5:1 first: with scale >= 0.9 and ratio <= 4/3,
  RandomResizedCrop never reaches outside that region, because for an aspect ratio above
  4 / (3 * 0.9) = 1.48 every random try fails and torchvision falls back to a centre crop
  of ratio 4/3.

A cache is a directory `cache_dir/<first 24 hex digits of the content hash>/<kind>-<size>-v1/`
holding `pixels.npy` (all images flattened, uint8) and `shapes.npy` (height, width per image).
It is built in a temporary directory and renamed into place, so concurrent jobs never see a
half-written cache; the loser of a race discards its copy.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import TrainingError
from core.images import ImageDecodeError, decode_image
from core.models.preprocessing import Preprocessing
from core.training.dataset import ImageSet

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
TRAIN_CACHE_SCALE = 1.15
MAX_TRAIN_ASPECT_RATIO = 1.5


class ImageCache:
    """Read access to one cache directory; arrays are memory-mapped on first use.

    Pickling keeps only the directory, so DataLoader worker processes reopen the memory map
    instead of copying every image.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pixels: np.ndarray | None = None
        self._shapes: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    def __getstate__(self) -> dict:
        return {"directory": self.directory}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["directory"])

    def __len__(self) -> int:
        return len(self._load()[1])

    def image(self, index: int) -> np.ndarray:
        """Return image `index` as a uint8 (height, width, 3) array view."""
        pixels, shapes, offsets = self._load()
        height, width = shapes[index]
        return pixels[offsets[index] : offsets[index + 1]].reshape(int(height), int(width), 3)

    def stacked(self) -> np.ndarray:
        """Return all images as one (N, H, W, 3) array; every image must have the same shape."""
        pixels, shapes, _ = self._load()
        if len(shapes) and not (shapes == shapes[0]).all():
            raise ValueError(f"cache {self.directory} holds images of different shapes")
        height, width = (int(value) for value in shapes[0]) if len(shapes) else (0, 0)
        return pixels.reshape(len(shapes), height, width, 3)

    def _load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._pixels is None:
            self._pixels = np.load(self.directory / "pixels.npy", mmap_mode="r")
            self._shapes = np.load(self.directory / "shapes.npy")
            sizes = self._shapes[:, 0].astype(np.int64) * self._shapes[:, 1] * 3
            self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        return self._pixels, self._shapes, self._offsets


def train_short_side(size: int) -> int:
    return math.ceil(size * TRAIN_CACHE_SCALE)


def open_cache(images: ImageSet, *, kind: str, preprocessing: Preprocessing, cache_dir: Path, max_image_pixels: int) -> ImageCache:
    """Return the cache of `kind` ("train" or "eval") for `images`, building it if missing."""
    directory = cache_dir / images.content_key[:24] / f"{kind}-{preprocessing.size}-{preprocessing.resize_mode}-v{CACHE_VERSION}"
    if not (directory / "shapes.npy").is_file():
        _build(images, kind=kind, preprocessing=preprocessing, directory=directory, max_image_pixels=max_image_pixels)
    return ImageCache(directory)


def _build(images: ImageSet, *, kind: str, preprocessing: Preprocessing, directory: Path, max_image_pixels: int) -> None:
    logger.info("image_cache.build_started directory=%s images=%d", directory, len(images))
    arrays = [_prepare(path, kind=kind, preprocessing=preprocessing, max_image_pixels=max_image_pixels) for path in images.paths]
    shapes = np.asarray([array.shape[:2] for array in arrays], dtype=np.int32).reshape(-1, 2)
    flat = np.concatenate([array.reshape(-1) for array in arrays]) if arrays else np.zeros(0, dtype=np.uint8)

    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        np.save(temporary / "pixels.npy", flat)
        np.save(temporary / "shapes.npy", shapes)
        os.replace(temporary, directory)
    except OSError:
        if not (directory / "shapes.npy").is_file():
            raise
        logger.info("image_cache.build_raced directory=%s", directory)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    logger.info("image_cache.build_finished directory=%s bytes=%d", directory, flat.nbytes)


def _prepare(path: Path, *, kind: str, preprocessing: Preprocessing, max_image_pixels: int) -> np.ndarray:
    try:
        image = decode_image(path, max_pixels=max_image_pixels)
    except (ImageDecodeError, OSError) as error:
        raise TrainingError("unreadable_image", f"cannot read training image {path}: {error}") from error
    if kind == "eval":
        return preprocessing.eval_pixels(image)
    return np.asarray(_shrink_for_training(image, preprocessing), dtype=np.uint8)


def _shrink_for_training(image: Image.Image, preprocessing: Preprocessing) -> Image.Image:
    width, height = image.size
    if width > MAX_TRAIN_ASPECT_RATIO * height:
        crop = round(MAX_TRAIN_ASPECT_RATIO * height)
        left = (width - crop) // 2
        image = image.crop((left, 0, left + crop, height))
    elif height > MAX_TRAIN_ASPECT_RATIO * width:
        crop = round(MAX_TRAIN_ASPECT_RATIO * width)
        top = (height - crop) // 2
        image = image.crop((0, top, width, top + crop))

    width, height = image.size
    short_side = train_short_side(preprocessing.size)
    if min(width, height) <= short_side:
        return image
    scale = short_side / min(width, height)
    new_size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    resample = Image.Resampling.BILINEAR if preprocessing.interpolation == "bilinear" else Image.Resampling.BICUBIC
    return image.resize(new_size, resample=resample)
