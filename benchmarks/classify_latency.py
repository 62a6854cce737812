"""Measure classify latency and throughput with batching against two baselines, in one run.

Three ways to serve the same request (one photo, all classes), each at concurrency 1, 8 and 32:

- batched: the API's path. `api.serving.Serving` keeps the model in its cache, decodes in a
  thread pool and sends the pixels to the model's micro-batcher (FLYP_CLASSIFY_BATCH_* settings).
- unbatched (baseline): the model stays cached, but every request runs its own forward pass in
  the thread pool, as classify did before batching.
- load per request (baseline): every request loads the model directory from disk, then runs
  like unbatched.

The model is flyp-tiny with random weights and a zero-shot head over two classes, written to a
temporary model directory in the format jobs write; no training is needed. Requests run in
this process through asyncio, without HTTP, so the figures leave out the network, the request
parsing and the database lookup that the API adds per request.

Usage: python benchmarks/classify_latency.py [--requests 96] [--load-requests 24] [--wait-ms MS] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from fastapi.concurrency import run_in_threadpool

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from api.batching import BatchItem, run_batch  # noqa: E402
from api.classify_request import ClassifyInput  # noqa: E402
from api.serving import Serving  # noqa: E402
from core.images import decode_image  # noqa: E402
from core.inference import Classifier  # noqa: E402
from core.models import Preprocessing  # noqa: E402
from core.models.templates import resolve_templates  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.training.artifacts import write_model_dir  # noqa: E402
from core.training.heads import text_head, tokenize_captions  # noqa: E402
from tests.data import CLASSES, photos  # noqa: E402

CONCURRENCY = (1, 8, 32)
MODEL_ID = "model_benchmark"


@dataclass
class Result:
    mode: str
    concurrency: int
    latencies: list[float]
    seconds: float

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


def write_benchmark_model(model_dir: Path) -> None:
    """Write flyp-tiny (random weights, seed 0) with a zero-shot head over CLASSES."""
    torch.manual_seed(0)
    model = open_clip.create_model("flyp-tiny").eval()
    templates = resolve_templates("simple")
    tokens = tokenize_captions(open_clip.get_tokenizer("flyp-tiny"), templates, list(CLASSES))
    head = text_head(model, tokens, num_classes=len(CLASSES), device=torch.device("cpu"))
    metadata = {
        "architecture": "flyp-tiny",
        "method": "zeroshot",
        "classes": [{"name": name, "display_name": name} for name in CLASSES],
        "templates": templates,
        "preprocessing": Preprocessing.from_model(model).to_dict(),
    }
    write_model_dir(
        model_dir,
        state_dict=model.state_dict(),
        head=head,
        class_embeddings=None,
        logit_scale=None,
        metadata=metadata,
        open_clip_config={"model_cfg": open_clip.get_model_config("flyp-tiny"), "preprocess_cfg": open_clip.get_model_preprocess_cfg(model)},
        write_report=lambda path: path.write_bytes(b""),
    )


def unbatched_request(classifier: Classifier, payload: bytes, max_pixels: int) -> torch.Tensor:
    pixels = classifier.pixels([decode_image(payload, max_pixels=max_pixels)])
    return run_batch(classifier, [BatchItem(classifier, pixels, classifier.head, future=None)])[0]  # type: ignore[arg-type]


async def measure(mode: str, concurrency: int, total: int, request: Callable[[int], Awaitable[object]]) -> Result:
    """Run `total` requests from `concurrency` callers that each send the next as soon as one returns."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def caller() -> None:
        for index in counter:
            started = time.perf_counter()
            await request(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return Result(mode, concurrency, latencies, time.perf_counter() - started)


async def run(model_dir: Path, payloads: list[bytes], *, requests: int, load_requests: int, wait_ms: float | None) -> list[Result]:
    settings = Settings(data_dir=model_dir.parent / "var", device="cpu")
    if wait_ms is not None:
        settings = settings.model_copy(update={"classify_batch_wait_ms": wait_ms})
    print(f"batching: up to {settings.classify_batch_max_images} images, {settings.classify_batch_wait_ms} ms wait")
    serving = Serving(settings)
    classifier = await serving.classifier(MODEL_ID, lambda: Classifier.load(model_dir, device="cpu"))
    max_pixels = settings.max_image_pixels

    async def batched(index: int) -> object:
        classify_in = ClassifyInput([payloads[index % len(payloads)]], [None], top_k=2, labels=None, templates=None, image_param="files")
        return await serving.classify(MODEL_ID, classifier, classify_in)

    async def unbatched(index: int) -> object:
        return await run_in_threadpool(unbatched_request, classifier, payloads[index % len(payloads)], max_pixels)

    async def load_per_request(index: int) -> object:
        def load_and_classify() -> torch.Tensor:
            return unbatched_request(Classifier.load(model_dir, device="cpu"), payloads[index % len(payloads)], max_pixels)

        return await run_in_threadpool(load_and_classify)

    # One warm-up pass per mode, so lazy initialisation does not count.
    for request in (batched, unbatched, load_per_request):
        await request(0)

    results = []
    for concurrency in CONCURRENCY:
        results.append(await measure("batched", concurrency, requests, batched))
        results.append(await measure("unbatched", concurrency, requests, unbatched))
        results.append(await measure("load per request", concurrency, load_requests, load_per_request))
    return results


def print_report(results: list[Result]) -> None:
    print(f"{'mode':<18} {'conc':>4} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
    for result in results:
        print(
            f"{result.mode:<18} {result.concurrency:>4} {len(result.latencies):>8} "
            f"{result.p50_ms:>8.1f} {result.p95_ms:>8.1f} {result.throughput:>8.1f}"
        )
    print()
    print("ratios (batched against each baseline, same run):")
    by_key = {(result.mode, result.concurrency): result for result in results}
    for concurrency in CONCURRENCY:
        batched = by_key[("batched", concurrency)]
        unbatched = by_key[("unbatched", concurrency)]
        loading = by_key[("load per request", concurrency)]
        print(
            f"  c={concurrency:<3} throughput x{batched.throughput / unbatched.throughput:.2f} vs unbatched, "
            f"x{batched.throughput / loading.throughput:.2f} vs load per request; "
            f"p50 of load per request / batched x{loading.p50_ms / batched.p50_ms:.1f}, "
            f"p95 of unbatched / batched x{unbatched.p95_ms / batched.p95_ms:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=96, help="Requests per concurrency level for batched and unbatched; default 96.")
    parser.add_argument("--load-requests", type=int, default=24, help="Requests per concurrency level that load the model each time; default 24.")
    parser.add_argument("--wait-ms", type=float, default=None, help="Batch wait in milliseconds; default: FLYP_CLASSIFY_BATCH_WAIT_MS.")
    parser.add_argument("--threads", type=int, default=2, help="Torch CPU threads (torch.set_num_threads); default 2.")
    arguments = parser.parse_args()

    torch.set_num_threads(arguments.threads)
    payloads = [path.read_bytes() for label in CLASSES for path in photos("val", label, 8)]
    with tempfile.TemporaryDirectory(prefix="flyp-classify-benchmark-") as directory:
        model_dir = Path(directory) / "model"
        write_benchmark_model(model_dir)
        results = asyncio.run(
            run(model_dir, payloads, requests=arguments.requests, load_requests=arguments.load_requests, wait_ms=arguments.wait_ms)
        )
    print(f"flyp-tiny, {len(payloads)} photos, torch {torch.__version__}, {arguments.threads} torch threads")
    print_report(results)


if __name__ == "__main__":
    main()
