"""Loaded models kept per API process, so each model is read from disk once."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from core.inference import Classifier

logger = logging.getLogger(__name__)


class ModelCache:
    """A least-recently-used cache of classifiers keyed by model id."""

    def __init__(self, *, max_models: int, device: str) -> None:
        self.max_models = max_models
        self.device = device
        self.loads = 0
        self.hits = 0
        self._models: OrderedDict[str, Classifier] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}

    def get(self, model_id: str, model_dir: Path) -> Classifier:
        """Return the classifier for `model_id`, loading it on first use.

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
                    self.hits += 1
                    return self._models[model_id]
            logger.info("model.load.start model_id=%s", model_id)
            classifier = Classifier.load(model_dir, device=self.device)
            logger.info("model.load.done model_id=%s classes=%d", model_id, len(classifier.classes))
            with self._lock:
                self.loads += 1
                self._models[model_id] = classifier
                while len(self._models) > self.max_models:
                    evicted, _ = self._models.popitem(last=False)
                    logger.info("model.evicted model_id=%s", evicted)
                self._load_locks.pop(model_id, None)
            return classifier

    def discard(self, model_id: str) -> None:
        with self._lock:
            self._models.pop(model_id, None)

    def __len__(self) -> int:
        return len(self._models)
