"""Per-process serving state: the model cache, the batchers and the in-flight request counts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import torch
from fastapi.concurrency import run_in_threadpool
from PIL import Image

from api.batching import Batchers
from api.classify_request import ClassifyInput
from api.model_cache import ModelCache
from core.errors import InvalidRequestError
from core.images import ImageDecodeError, decode_image
from core.inference import Classifier, LabelHead, top_labels
from core.settings import Settings

logger = logging.getLogger(__name__)


class InFlight:
    """Counts the requests using each model in this process, so a delete can wait for them.

    Used only from the event loop thread, so it needs no lock.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._idle: dict[str, asyncio.Event] = {}

    @contextmanager
    def hold(self, model_id: str) -> Iterator[None]:
        self._counts[model_id] = self._counts.get(model_id, 0) + 1
        self._idle.setdefault(model_id, asyncio.Event()).clear()
        try:
            yield
        finally:
            self._counts[model_id] -= 1
            if self._counts[model_id] == 0:
                del self._counts[model_id]
                self._idle.pop(model_id).set()

    def count(self, model_id: str) -> int:
        return self._counts.get(model_id, 0)

    async def wait_idle(self, model_id: str, timeout: float) -> bool:
        """Wait until no request uses `model_id`. Return False if `timeout` seconds pass first."""
        idle = self._idle.get(model_id)
        if idle is None:
            return True
        try:
            await asyncio.wait_for(idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class Serving:
    """The classify state of one API process (cache, batchers, in-flight counts), kept in `app.state.serving`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ModelCache(max_bytes=settings.model_cache_bytes, max_models=settings.model_cache_size)
        self.batchers = Batchers(max_images=settings.classify_batch_max_images, wait_seconds=settings.classify_batch_wait_ms / 1000)
        self.in_flight = InFlight()

    async def classifier(self, model_id: str, load: Callable[[], Classifier]) -> Classifier:
        return await run_in_threadpool(self.cache.get, model_id, load)

    async def classify(self, model_id: str, classifier: Classifier, classify_in: ClassifyInput) -> list[list[tuple[str, float, bool]]]:
        """Decode, batch and score the images, and return (label, score, zero_shot) triples per image."""
        label_head, pixels = await run_in_threadpool(self._prepare, classifier, classify_in)
        scores = await self.batchers.get(model_id).scores(classifier, pixels, label_head.head)
        return top_labels(scores, label_head, classify_in.top_k)

    def _prepare(self, classifier: Classifier, classify_in: ClassifyInput) -> tuple[LabelHead, torch.Tensor]:
        # The head first: a missing or invalid label list fails before any image is decoded.
        label_head = classifier.label_head(classify_in.labels, classify_in.templates)
        # Each image is cut down to the model's input size before the next is decoded: a request may
        # carry max_classify_images images of up to max_image_pixels each, too much to hold decoded at once.
        rows = []
        for index, (payload, filename) in enumerate(zip(classify_in.payloads, classify_in.filenames)):
            image = self._decode(payload, filename, index, classify_in.image_param)
            rows.append(classifier.pixels([image]))
            del image
        return label_head, torch.cat(rows)

    def _decode(self, payload: bytes, filename: str | None, index: int, image_param: str) -> Image.Image:
        try:
            return decode_image(payload, max_pixels=self.settings.max_image_pixels)
        except ImageDecodeError as error:
            raise InvalidRequestError(
                f"image_{error.code}",
                f"Image {index} ({filename or 'unnamed'}) cannot be used: {error.message}.",
                param=f"{image_param}[{index}]",
            ) from None

    def forget(self, model_id: str) -> None:
        """Drop a deleted model from the cache and its batcher."""
        self.cache.discard(model_id)
        self.batchers.discard(model_id)

