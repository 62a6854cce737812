"""FLYP's train augmentation on cached uint8 images, with per-sample seeds.

The reference uses torchvision's RandomResizedCrop(size, scale=(0.9, 1.0), bicubic) and no
flip (github.com/locuslab/FLYP, via open_clip's image_transform). The crop box below follows
torchvision's RandomResizedCrop.get_params step by step. It draws from a `random.Random`
seeded by (seed, step, sample) instead of the global RNG. So the crops stay the same for any
number of DataLoader workers and after a resume.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from core.models.preprocessing import Preprocessing

CROP_SCALE = (0.9, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
CROP_TRIES = 10


def sample_rng(seed: int, step: int, sample: int) -> random.Random:
    return random.Random(f"flyp-crop:{seed}:{step}:{sample}")


def random_resized_crop_box(height: int, width: int, rng: random.Random) -> tuple[int, int, int, int]:
    """Return (top, left, crop_height, crop_width) as torchvision's RandomResizedCrop would."""
    area = height * width
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(CROP_TRIES):
        target_area = area * rng.uniform(*CROP_SCALE)
        aspect_ratio = math.exp(rng.uniform(*log_ratio))
        crop_width = int(round(math.sqrt(target_area * aspect_ratio)))
        crop_height = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = rng.randint(0, height - crop_height)
            left = rng.randint(0, width - crop_width)
            return top, left, crop_height, crop_width

    # Fallback of torchvision: a centre crop with the ratio clamped into CROP_RATIO.
    input_ratio = width / height
    if input_ratio < min(CROP_RATIO):
        crop_width, crop_height = width, int(round(width / min(CROP_RATIO)))
    elif input_ratio > max(CROP_RATIO):
        crop_height, crop_width = height, int(round(height * max(CROP_RATIO)))
    else:
        crop_width, crop_height = width, height
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def random_resized_crop(image: np.ndarray, rng: random.Random, preprocessing: Preprocessing) -> torch.Tensor:
    """Crop a uint8 (H, W, 3) array and resize it to a uint8 (3, size, size) tensor."""
    height, width = image.shape[:2]
    top, left, crop_height, crop_width = random_resized_crop_box(height, width, rng)
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1)  # a copy: the cache is a read-only memory map
    return F.resized_crop(
        tensor,
        top,
        left,
        crop_height,
        crop_width,
        [preprocessing.size, preprocessing.size],
        interpolation=preprocessing.interpolation_mode,
        antialias=True,
    )
