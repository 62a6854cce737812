"""Ingest and classify turn the same file into the same model input.

A dataset is uploaded through the real API. Training evaluates each stored validation image
through the "eval" image cache and `encode_images`. Classify runs `decode_image` on the
uploaded bytes and then `Classifier.probabilities`. The tensors both feed the image tower
must be equal, exactly. Training batches use random crops and are not comparable, but
validation and test metrics use this evaluation input.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.images import decode_image
from core.inference import Classifier
from core.manifest import DatasetManifest
from core.models import LoadedModel, create_base_model
from core.training.config import ModelSpec
from core.training.dataset import load_dataset
from core.training.evaluation import EvalSet, encode_images
from core.training.heads import ClassifierHead
from core.store.db import Database
from core.training.image_cache import open_cache
from tests.api.datasets_support import post_dataset, storage_dir_of
from tests.data import hymenoptera_dir
from tests.stack import Stack
from tests.unit.archive_builders import class_files, write_zip

MAX_IMAGE_PIXELS = 50_000_000  # the service's default FLYP_MAX_IMAGE_PIXELS


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    channels = {"RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.frombytes(mode, size, pixels.tobytes())


def special_files() -> dict[str, bytes]:
    """Validation files that exercise each decoding step, named as users would name them."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rgba = noise((90, 60), "RGBA", 1)
    rgba.putalpha(Image.linear_gradient("L").resize((90, 60)))
    sixteen = Image.fromarray((np.arange(70 * 50, dtype=np.uint32).reshape(50, 70) * 18).astype(np.uint16))
    source = hymenoptera_dir()
    return {
        "val/cats/rotated.jpg": encoded(noise((120, 70), "RGB", 2), "JPEG", exif=exif.tobytes()),
        "val/cats/transparent.png": encoded(rgba, "PNG"),
        "val/cats/really_a_gif.jpg": encoded(noise((64, 48), "RGB", 3).convert("P"), "GIF"),
        "val/dogs/sixteen_bit.png": encoded(sixteen, "PNG"),
        "val/dogs/print.jpg": encoded(noise((80, 80), "CMYK", 4), "JPEG"),
        "val/dogs/imageNotFound.gif": (source / "train/ants/imageNotFound.gif").read_bytes(),
        "val/dogs/real_ant.jpg": (source / "train/ants/0013035.jpg").read_bytes(),
    }


@pytest.fixture(scope="module")
def stored_dataset(stack: Stack, postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, bytes]]]:
    """The storage directory of the uploaded dataset, and the uploaded bytes by archive path."""
    files = class_files({"cats": 3, "dogs": 3}, prefix="train/", seed=71) | special_files()
    archive = write_zip(tmp_path_factory.mktemp("parity") / "parity.zip", files)
    response = post_dataset(stack, archive)
    assert response.status_code == 201, response.text
    assert response.json()["report"]["rejected"] == []
    database = Database(postgres_url)
    storage_dir = storage_dir_of(database, response.json()["id"])
    database.dispose()
    assert storage_dir is not None
    yield storage_dir, files


@pytest.fixture(scope="module")
def loaded_model() -> LoadedModel:
    torch.manual_seed(0)
    return create_base_model(ModelSpec(architecture="flyp-tiny"))


class TowerInputs:
    """Record every batch that reaches the image tower."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.batches: list[torch.Tensor] = []
        self.handle = model.visual.register_forward_pre_hook(lambda _module, args: self.batches.append(args[0].detach().clone()))

    def rows(self) -> torch.Tensor:
        return torch.cat(self.batches)

    def remove(self) -> None:
        self.handle.remove()


def engine_inputs(model: LoadedModel, storage_dir: Path, cache_dir: Path) -> tuple[list[str], torch.Tensor]:
    """Return the stored paths of the validation images and the tower input training evaluation uses."""
    dataset = load_dataset(storage_dir)
    cache = open_cache(dataset.val, kind="eval", preprocessing=model.preprocessing, cache_dir=cache_dir, max_image_pixels=MAX_IMAGE_PIXELS)
    eval_set = EvalSet(name="val", cache=cache, labels=torch.from_numpy(dataset.val.labels))
    recorder = TowerInputs(model.model)
    try:
        encode_images(model.model, eval_set, preprocessing=model.preprocessing, device=torch.device("cpu"), autocast=contextlib.nullcontext)
    finally:
        recorder.remove()
    stored_paths = [str(path.relative_to(storage_dir)) for path in dataset.val.paths]
    return stored_paths, recorder.rows()


def classify_input(model: LoadedModel, payload: bytes) -> torch.Tensor:
    """Return the tower input the classify path computes for one uploaded file."""
    embed_dim = model.model.visual.output_dim
    head = ClassifierHead(weight=torch.zeros(2, embed_dim), bias=torch.zeros(2))
    classifier = Classifier(model.model, head, model.preprocessing, ["cats", "dogs"], metadata={})
    recorder = TowerInputs(model.model)
    try:
        classifier.probabilities([decode_image(payload, max_pixels=MAX_IMAGE_PIXELS)])
    finally:
        recorder.remove()
    return recorder.rows()[0]


def test_ingest_and_classify_same_tensor(
    stored_dataset: tuple[Path, dict[str, bytes]], loaded_model: LoadedModel, tmp_path: Path
) -> None:
    storage_dir, uploaded = stored_dataset
    source_paths = load_dataset_sources(storage_dir)
    stored_paths, engine_rows = engine_inputs(loaded_model, storage_dir, tmp_path / "cache")

    assert sorted(source_paths[path] for path in stored_paths) == sorted(special_files())
    assert engine_rows.shape[0] == len(stored_paths)
    for row, stored_path in zip(engine_rows, stored_paths):
        source_path = source_paths[stored_path]
        expected = classify_input(loaded_model, uploaded[source_path])
        assert expected.shape == row.shape, source_path
        assert torch.equal(row, expected), f"{source_path}: max difference {(row - expected).abs().max().item()}"


def test_stored_file_is_uploaded_file(stored_dataset: tuple[Path, dict[str, bytes]]) -> None:
    storage_dir, uploaded = stored_dataset
    for stored_path, source_path in load_dataset_sources(storage_dir).items():
        assert (storage_dir / stored_path).read_bytes() == uploaded[source_path], source_path


def load_dataset_sources(storage_dir: Path) -> dict[str, str]:
    """Return the archive path each stored image came from, by stored path."""
    return DatasetManifest.load(storage_dir).extra["source_paths"]
