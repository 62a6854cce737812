"""Loaded models kept per API process, so each model is read from disk once."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Callable

from core.inference import Classifier

logger = logging.getLogger(__name__)


class ModelCache:
    """A least-recently-used cache of classifiers keyed by model id, bounded in bytes and count.

    A model's size is estimated from its parameters, buffers and head (`Classifier.memory_bytes`).
    The model just loaded always stays, even when it alone is larger than the budget, so the
    request that loaded it is served. Older models are evicted until the rest fit.
    """

    def __init__(self, *, max_bytes: int, max_models: int) -> None:
        self.max_bytes = max_bytes
        self.max_models = max_models
        self.loads = 0
        self.hits = 0
        self.evictions = 0
        self._models: OrderedDict[str, Classifier] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}

    def get(self, model_id: str, load: Callable[[], Classifier]) -> Classifier:
        """Return the classifier for `model_id`, calling `load` on first use.

        Concurrent first requests for one model wait for a single load instead of each
        reading the weights.
        """
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                self.hits += 1
                return self._models[model_id]
            load_lock = self._load_locks.setdefault(model_id, threading.Lock())

        with load_lock:
            with self._lock:
                if model_id in self._models:
                    self._models.move_to_end(model_id)
                    self.hits += 1
                    return self._models[model_id]
            logger.info("model.load.start model_id=%s", model_id)
            try:
                classifier = load()
            except BaseException:
                # Threads waiting on this lock retry the load, and later requests get a new lock.
                with self._lock:
                    self._load_locks.pop(model_id, None)
                raise
            size = classifier.memory_bytes()
            logger.info("model.load.done model_id=%s classes=%d bytes=%d", model_id, len(classifier.classes), size)
            with self._lock:
                self.loads += 1
                self._models[model_id] = classifier
                self._sizes[model_id] = size
                self._evict_over_budget()
                self._load_locks.pop(model_id, None)
            return classifier

    def _evict_over_budget(self) -> None:
        # Called with the lock held; the newest entry (the last) is never evicted.
        while len(self._models) > 1 and (len(self._models) > self.max_models or self.size_bytes > self.max_bytes):
            evicted, _ = self._models.popitem(last=False)
            self._sizes.pop(evicted, None)
            self.evictions += 1
            logger.info("model.evicted model_id=%s cache_bytes=%d", evicted, self.size_bytes)

    def discard(self, model_id: str) -> None:
        with self._lock:
            self._models.pop(model_id, None)
            self._sizes.pop(model_id, None)

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models

    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._models)
