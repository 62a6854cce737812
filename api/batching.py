"""Micro-batching of concurrent classify requests to one model.

Requests to the same model that arrive within `wait_seconds` of the first waiting one, up to
`max_images` images, share one image forward pass. Each request keeps its own head (its label
list), applied to its slice of the batch's features, so a batched result is the unbatched
computation on the same rows. The forward pass runs in a thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field

import torch

from core.inference import Classifier
from core.training.heads import ClassifierHead

logger = logging.getLogger(__name__)


@dataclass
class BatchItem:
    """One request's images (uint8 pixels) and head, waiting for a forward pass."""

    classifier: Classifier
    pixels: torch.Tensor
    head: ClassifierHead
    future: asyncio.Future = field(repr=False)
    enqueued_at: float = 0.0

    @property
    def images(self) -> int:
        return self.pixels.shape[0]


def run_batch(classifier: Classifier, items: list[BatchItem]) -> list[torch.Tensor]:
    """Run one forward pass over every item's pixels; return each item's scores in order."""
    features = classifier.image_features(torch.cat([item.pixels for item in items]))
    scores, start = [], 0
    for item in items:
        scores.append(classifier.scores(features[start : start + item.images], item.head))
        start += item.images
    return scores


class ModelBatcher:
    """Collects the requests of one model and runs them in batches, one batch at a time."""

    def __init__(self, *, max_images: int, wait_seconds: float, executor: Executor | None) -> None:
        self.max_images = max_images
        self.wait_seconds = wait_seconds
        self.executor = executor
        self.batches = 0
        self._pending: deque[BatchItem] = deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task | None = None

    async def scores(self, classifier: Classifier, pixels: torch.Tensor, head: ClassifierHead) -> torch.Tensor:
        """Return the softmax scores (N, C) of `pixels` under `head`, computed in some batch."""
        loop = asyncio.get_running_loop()
        item = BatchItem(classifier, pixels, head, loop.create_future(), loop.time())
        self._pending.append(item)
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await self._collect(loop)
            batch = self._take_batch()
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self.executor, run_batch, batch[0].classifier, batch)
            except Exception as error:  # noqa: BLE001 - the error belongs to the waiting requests
                logger.warning("classify.batch_failed requests=%d error=%r", len(batch), error)
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            self.batches += 1
            for item, result in zip(batch, results):
                # A request whose client went away has a cancelled future.
                if not item.future.done():
                    item.future.set_result(result)

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until max_images are pending or wait_seconds have passed since the first arrived."""
        deadline = self._pending[0].enqueued_at + self.wait_seconds
        while sum(item.images for item in self._pending) < self.max_images:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[BatchItem]:
        """Pop requests in arrival order up to max_images; a larger request goes alone.

        Requests are batched only with others on the same loaded classifier object, since a
        model evicted and loaded again between two requests is a different object.
        """
        batch: list[BatchItem] = []
        images = 0
        while self._pending:
            item = self._pending[0]
            if item.future.done():
                self._pending.popleft()
                continue
            if batch and (images + item.images > self.max_images or item.classifier is not batch[0].classifier):
                break
            batch.append(self._pending.popleft())
            images += item.images
        return batch


class Batchers:
    """One ModelBatcher per model id, made on first use."""

    def __init__(self, *, max_images: int, wait_seconds: float, executor: Executor | None = None) -> None:
        self.max_images = max_images
        self.wait_seconds = wait_seconds
        self.executor = executor
        self._batchers: dict[str, ModelBatcher] = {}

    def get(self, model_id: str) -> ModelBatcher:
        batcher = self._batchers.get(model_id)
        if batcher is None:
            batcher = ModelBatcher(max_images=self.max_images, wait_seconds=self.wait_seconds, executor=self.executor)
            self._batchers[model_id] = batcher
        return batcher

    def discard(self, model_id: str) -> None:
        self._batchers.pop(model_id, None)
