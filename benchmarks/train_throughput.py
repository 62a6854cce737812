"""Measure training images per second of the FLYP engine against a plain FLYP loop.

Both loops train the same architecture from the same random weights on the same photos with
the same loss (open_clip's ClipLoss), AdamW settings, schedule, batch size and epochs:

- engine: `core.training.train` with method flyp. The photos are decoded and resized once
  into an image cache before the first epoch, and each distinct caption of a batch is
  encoded once. Its throughput is the `images_per_second` the job records over its training
  epochs (evaluation and the one-time cache build are not counted).
- plain: a torchvision-style loop that decodes every JPEG and applies RandomResizedCrop,
  ToTensor and Normalize to the full-size photo in every epoch, encodes every row's caption,
  and uses torch.optim.AdamW with its default (per-tensor) implementation. Timed over the same
  training epochs.

The machine may be shared, so the two loops alternate for --rounds rounds. The best round of
each loop is compared, and every round's numbers are printed too. Both wall-clock throughput and
images per CPU second of the process (all threads) are reported, because on a busy machine
the CPU time is the steadier measure.

Usage: python benchmarks/train_throughput.py [--data DIR] [--architecture flyp-tiny]
       [--epochs 5] [--batch-size 32] [--templates simple] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import open_clip
import torch
from open_clip.loss import ClipLoss
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from core.images import decode_image
from core.ingest import IngestLimits, ingest_folder
from core.manifest import DatasetManifest
from core.models import create_base_model, resolve_templates
from core.training import Hyperparameters, ModelSpec, NullCallbacks, resolve_hyperparameters, train
from core.training.dataset import load_dataset
from core.training.heads import tokenize_captions
from core.training.schedule import learning_rate_at, set_learning_rate

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / "examples" / "sample_data" / "ants-bees"
MAX_IMAGE_PIXELS = 50_000_000
LEARNING_RATE = 1e-4
WEIGHT_DECAY = 0.1


class DecodedPhotos(Dataset):
    """Training photos decoded from JPEG and transformed on every access, as a plain loop does."""

    def __init__(self, paths: list[Path], labels: list[int], transform: transforms.Compose) -> None:
        self.paths = paths
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = decode_image(self.paths[index], max_pixels=MAX_IMAGE_PIXELS)
        return self.transform(image), self.labels[index]


def run_engine(dataset_dir: Path, work_root: Path, *, hyperparameters: dict, architecture: str) -> tuple[float, float]:
    """Train with the engine and return its training images per wall-clock second and per CPU second."""
    result = train(
        dataset_dir=dataset_dir,
        model_spec=ModelSpec(architecture=architecture),
        method="flyp",
        hyperparameters=hyperparameters,
        model_dir=work_root / "model",
        work_dir=work_root / "work",
        cache_dir=work_root / "cache",
        device="cpu",
        max_image_pixels=MAX_IMAGE_PIXELS,
        callbacks=NullCallbacks(),
    )
    training = result.metrics["training"]
    return training["images_per_second"], training["images_seen"] / training["train_cpu_seconds"]


def run_plain(dataset_dir: Path, *, hyperparameters: dict, architecture: str) -> tuple[float, float]:
    """Train with the plain loop and return its images per wall-clock second and per CPU second."""
    loaded = create_base_model(ModelSpec(architecture=architecture), seed=hyperparameters["seed"])
    model = loaded.model.train()
    dataset = load_dataset(dataset_dir)
    templates = resolve_templates(hyperparameters["templates"])
    caption_tokens = tokenize_captions(loaded.tokenizer, templates, dataset.display_names)
    preprocessing = loaded.preprocessing
    transform = transforms.Compose([
        transforms.RandomResizedCrop(preprocessing.size, scale=(0.9, 1.0), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(),
        transforms.Normalize(preprocessing.mean, preprocessing.std),
    ])
    photos = DecodedPhotos(list(dataset.train.paths), dataset.train.labels.tolist(), transform)
    generator = torch.Generator().manual_seed(hyperparameters["seed"])
    loader = DataLoader(photos, batch_size=hyperparameters["batch_size"], shuffle=True, generator=generator, num_workers=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8, weight_decay=WEIGHT_DECAY)
    clip_loss = ClipLoss()

    step, images_seen = 0, 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(hyperparameters["epochs"]):
        for images, labels in loader:
            learning_rate = learning_rate_at(
                step, base_lr=LEARNING_RATE, warmup_steps=hyperparameters["warmup_steps"],
                total_steps=hyperparameters["total_steps"], min_lr=0.0,
            )
            set_learning_rate(optimizer, learning_rate)
            template_ids = torch.randint(len(templates), (len(labels),), generator=generator)
            tokens = caption_tokens[labels * len(templates) + template_ids]

            image_features = model.encode_image(images, normalize=True)
            text_features = model.encode_text(tokens, normalize=True)
            loss = clip_loss(image_features, text_features, model.logit_scale.exp())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            step += 1
            images_seen += len(labels)
    return images_seen / (time.perf_counter() - started), images_seen / (time.process_time() - cpu_started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder of class folders, optionally in train/ and val/.")
    parser.add_argument("--architecture", default="flyp-tiny", help="open_clip architecture; default flyp-tiny.")
    parser.add_argument("--epochs", type=int, default=5, help="Training epochs of each loop in each round; default 5.")
    parser.add_argument("--batch-size", type=int, default=32, help="Images per step; default 32.")
    parser.add_argument("--templates", default="simple", help="Template set; default simple (one template).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds, each running the plain loop and then the engine; default 3.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads; default 1, which keeps CPU time free of idle spinning.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="train-throughput.") as temporary:
        root = Path(temporary)
        limits = IngestLimits(max_members=100_000, max_expanded_bytes=10 * 1024**3, max_image_pixels=MAX_IMAGE_PIXELS)
        ingest_folder(args.data, root / "dataset", limits=limits, val_fraction=0.2)
        num_train_images = len(DatasetManifest.load(root / "dataset").split("train"))
        hyperparameters, _ = resolve_hyperparameters(
            Hyperparameters(
                epochs=args.epochs, batch_size=args.batch_size, learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                templates=args.templates, seed=0, wise_ft_alphas=[1.0], precision="fp32",
            ),
            method="flyp", num_train_images=num_train_images, num_classes=2,
        )

        plain_rates, engine_rates = [], []
        for round_index in range(args.rounds):
            plain_rates.append(run_plain(root / "dataset", hyperparameters=hyperparameters, architecture=args.architecture))
            engine_rates.append(
                run_engine(root / "dataset", root / f"engine-{round_index}", hyperparameters=hyperparameters, architecture=args.architecture)
            )
            print(
                f"round {round_index + 1}: plain {plain_rates[-1][0]:.1f} images/s ({plain_rates[-1][1]:.1f} per CPU second), "
                f"engine {engine_rates[-1][0]:.1f} images/s ({engine_rates[-1][1]:.1f} per CPU second)",
                flush=True,
            )

    steps = math.ceil(num_train_images / hyperparameters["batch_size"]) * args.epochs
    print(
        f"data: {args.data} ({num_train_images} training photos), architecture {args.architecture}, batch {hyperparameters['batch_size']}, "
        f"{args.epochs} epochs ({steps} steps) per loop and round, templates {args.templates}, {args.threads} threads, CPU"
    )
    best_plain, best_engine = max(rate for rate, _ in plain_rates), max(rate for rate, _ in engine_rates)
    best_plain_cpu, best_engine_cpu = max(rate for _, rate in plain_rates), max(rate for _, rate in engine_rates)
    print(f"plain loop (decode every epoch, every caption encoded), best round: {best_plain:.1f} images/s, {best_plain_cpu:.1f} per CPU second")
    print(f"engine (image cache, distinct captions encoded once), best round:   {best_engine:.1f} images/s, {best_engine_cpu:.1f} per CPU second")
    print(f"ratio engine / plain: {best_engine / best_plain:.2f}x wall clock, {best_engine_cpu / best_plain_cpu:.2f}x CPU time")


if __name__ == "__main__":
    main()
