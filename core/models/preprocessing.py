"""Image preprocessing of a model: input size, normalisation and the evaluation resize."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import open_clip
import torch
from PIL import Image
from torchvision.transforms import CenterCrop, InterpolationMode, Resize

from core.errors import TrainingError

SUPPORTED_RESIZE_MODES = ("shortest", "squash")


@dataclass(frozen=True)
class Preprocessing:
    """What the image tower expects: a square `size` input normalised with `mean` and `std`."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> "Preprocessing":
        """Read open_clip's preprocess config that `create_model` attached to the model."""
        config = open_clip.get_model_preprocess_cfg(model)
        size = config["size"]
        if isinstance(size, (tuple, list)):
            if len(set(size)) != 1:
                raise TrainingError("unsupported_model", f"the image size {tuple(size)} is not square; only square inputs are supported")
            size = size[0]
        resize_mode = config.get("resize_mode", "shortest")
        if resize_mode not in SUPPORTED_RESIZE_MODES:
            raise TrainingError("unsupported_model", f"image resize mode {resize_mode!r} is not supported; supported: {SUPPORTED_RESIZE_MODES}")
        return cls(
            size=int(size),
            mean=tuple(float(value) for value in config["mean"]),
            std=tuple(float(value) for value in config["std"]),
            interpolation=config.get("interpolation", "bicubic"),
            resize_mode=resize_mode,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def interpolation_mode(self) -> InterpolationMode:
        return InterpolationMode.BILINEAR if self.interpolation == "bilinear" else InterpolationMode.BICUBIC

    def eval_pixels(self, image: Image.Image) -> np.ndarray:
        """Apply the evaluation resize and centre crop to an RGB image; return uint8 (size, size, 3).

        The same PIL operations as open_clip's evaluation transform (Resize then CenterCrop),
        so cached evaluation pixels equal what the transform would produce before ToTensor.
        """
        if self.resize_mode == "squash":
            resized = Resize((self.size, self.size), interpolation=self.interpolation_mode)(image)
        else:
            resized = CenterCrop(self.size)(Resize(self.size, interpolation=self.interpolation_mode)(image))
        return np.asarray(resized, dtype=np.uint8)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Turn a uint8 batch (B, 3, H, W) on any device into the normalised float input."""
        mean = torch.tensor(self.mean, device=pixels.device, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=pixels.device, dtype=torch.float32).view(1, 3, 1, 1)
        return (pixels.to(torch.float32) / 255.0 - mean) / std
